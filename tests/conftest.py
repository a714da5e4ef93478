"""Shared test helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture
def hf_dir() -> Path:
    return DATA / "hf"


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """make(arch, **kw) -> folder of a tiny Hugging Face checkpoint (cimdse/accuracy/tiny.py), built once per
    session and argument set; tests that change files copy it first."""
    pytest.importorskip("safetensors")
    pytest.importorskip("tokenizers")
    from cimdse.accuracy.tiny import write_tiny_checkpoint

    made: dict = {}

    def make(arch: str = "llama", **kw) -> Path:
        key = (arch, tuple(sorted(kw.items())))
        if key not in made:
            made[key] = write_tiny_checkpoint(tmp_path_factory.mktemp(f"tiny-{arch}"), arch, **kw)
        return made[key]

    return make


@pytest.fixture
def text_file(tmp_path):
    """A text file for `cimdse accuracy` and `sweep --verify`: the tiny checkpoints' own paragraph."""
    pytest.importorskip("tokenizers")
    from cimdse.accuracy.tiny import TEXT

    p = tmp_path / "text.txt"
    p.write_text(TEXT)
    return p
