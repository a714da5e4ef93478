"""The figure of `cimdse sweep --verify` (verify.png): the measured perplexity of each front design against the
first objective and against its measured logit SQNR, with the checkpoint's exact perplexity as a line."""

from __future__ import annotations

from .style import metric_label, new_figure, use_log


def verify_figure(front, objective: str, reference_ppl: float | None, title: str = "", checkpoint: str = ""):
    """Two panels over the front rows that carry `measured_ppl`: against `objective`, and against
    `measured_logit_sqnr_db` (where the accuracy cliff shows); a matplotlib Figure."""
    fig, (a, b) = new_figure(1, 2, figsize=(10.0, 4.2))
    ppl = front["measured_ppl"].to_numpy(dtype=float)
    for ax, col, label in ((a, objective, metric_label(objective)),
                           (b, "measured_logit_sqnr_db", "measured logit SQNR [dB]")):
        x = front[col].to_numpy(dtype=float)
        ax.plot(x, ppl, "o", color="#1f77b4", label="front design (measured)")
        for xi, yi, t in zip(x, ppl, front["trial"], strict=True):
            ax.annotate(str(t), (xi, yi), textcoords="offset points", xytext=(3, 3), fontsize=7, color="#555555")
        if reference_ppl is not None:
            ax.axhline(reference_ppl, color="black", ls="--", lw=1, label=f"exact (float32): {reference_ppl:.3g}")
        ax.set_xlabel(label)
        ax.set_ylabel("measured perplexity")
        if use_log(x, None):
            ax.set_xscale("log")
        ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
    a.legend(fontsize=8, loc="best")
    fig.suptitle((title + "\n" if title else "") + f"front measured on {checkpoint}", fontsize=9)
    return fig
