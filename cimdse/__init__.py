"""cimdse: design-space exploration of compute-in-memory accelerators for LLM inference.

The public Python API is the set of functions the CLI calls (`__all__`; `help(cimdse.NAME)` for each):

- workloads: `load_model`, `preset_names`, `model_from_hf_config`, `ModelConfig`, `Scenario`, `operator_table`,
  `workload_summary`
- scoring: `evaluate` (designs -> DataFrame), `evaluate_arrays` (dict of columns -> dict of numpy arrays, the fast
  path), `gpu_metrics`, `get_gpu`, `load_gpus`
- sweeps: `load_sweep`, `run_sweep`, `pareto_front`, `pareto_view`
- errors: `UserError` (every mistake in user input)

Names load lazily so that `cimdse --help` stays instant.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_API = {
    "ModelConfig": "workload",
    "Scenario": "workload",
    "load_model": "models",
    "preset_names": "workload",
    "model_from_hf_config": "models",
    "operator_table": "workload",
    "workload_summary": "workload",
    "gpu_metrics": "cost.gpu",
    "get_gpu": "cost.gpu",
    "load_gpus": "cost.gpu",
    "evaluate": "cost",
    "evaluate_arrays": "cost",
    "load_sweep": "config",
    "run_sweep": "run",
    "pareto_front": "results",
    "pareto_view": "run",
    "UserError": "errors",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module(f".{_API[name]}", __name__), name)
    raise AttributeError(f"module 'cimdse' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public API (loaded lazily, so not yet in the module's namespace) and the module's own names."""
    return sorted({*globals(), *__all__})
