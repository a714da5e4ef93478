"""Shell completion (click's shell_complete) of model presets, GPU names and aliases, and reference names.

Enable it once per shell (README "Shell completion"): `eval "$(_CIMDSE_COMPLETE=bash_source cimdse)"`. Each function
reads only the small data files, so a completion answers quickly."""

from __future__ import annotations

from importlib import resources

from click.shell_completion import CompletionItem


def _match(names, incomplete: str) -> list[CompletionItem]:
    low = incomplete.lower()
    return [CompletionItem(n) for n in names if str(n).lower().startswith(low)]


def models(ctx, param, incomplete: str) -> list[CompletionItem]:
    """Preset names; a path (anything with '/' or '.json') is left to the shell's file completion."""
    from .workload import preset_names

    if "/" in incomplete or incomplete.endswith(".json"):
        return [CompletionItem(incomplete, type="file")]
    return _match(preset_names(), incomplete) + ([CompletionItem(incomplete, type="file")] if incomplete else [])


def gpus(ctx, param, incomplete: str) -> list[CompletionItem]:
    """The gpus.yaml entries and their aliases."""
    from .cost.gpu import gpu_aliases, gpu_names

    return _match([*gpu_names(), *gpu_aliases()], incomplete)


def reference_names() -> list[str]:
    """Names of the packaged reference designs (cimdse/reference/*.yaml)."""
    folder = resources.files("cimdse.reference")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml") and not p.name.startswith("_"))


def references(ctx, param, incomplete: str) -> list[CompletionItem]:
    """Packaged reference names, then files."""
    return _match(reference_names(), incomplete) + [CompletionItem(incomplete, type="file")]
