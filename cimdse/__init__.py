"""cimdse: design-space exploration of compute-in-memory accelerators for LLM inference.

The public Python API is the set of functions the CLI calls. Names load lazily so that `cimdse --help`
stays instant.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_API = {
    "ModelConfig": "workload",
    "Scenario": "workload",
    "load_model": "workload",
    "operator_table": "workload",
    "workload_summary": "workload",
    "gpu_metrics": "cost.gpu",
    "load_gpus": "cost.gpu",
    "evaluate": "cost",
    "evaluate_arrays": "cost",
    "load_sweep": "config",
    "run_sweep": "run",
    "pareto_front": "results",
    "pareto_view": "run",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module(f".{_API[name]}", __name__), name)
    raise AttributeError(f"module 'cimdse' has no attribute {name!r}")
