"""Accuracy cost of attention-token pruning (`kv_keep`) and of an approximate key selector (`token_select: cam`).

Law (docs/MODEL.md 'Attention-token pruning'): attention logits of one query over its n keys are Gaussian with
spread s, s^2 = ln(n) / 2, so the probabilities are log-normal with an effective number of keys
(sum p)^2 / sum p^2 = n exp(-s^2) = sqrt(n) (the error model's stated attention spread, errstats.error_shapes).
A selector keeps the fraction f of keys whose selection score y is highest, y = rho z + sqrt(1 - rho^2) w (z the
standardized logit, w independent noise; rho = 1 for an exact top-k). With t = Q^-1(f), tilting by the softmax
weight exp(s z) shifts z by s, so the kept share of the attention mass is Q(t - rho s) and the kept share of
sum p^2 is Q(t - 2 rho s). Renormalizing the kept probabilities, the output's error over its signal (values
independent, zero mean, equal variance) is
    NSR = (m / (1 - m))^2 Q(t - 2 rho s) + Phi(t - 2 rho s),   m = Phi(t - rho s) the dropped mass.
"""

from __future__ import annotations

import numpy as np

from ._select import select


def attention_spread(keys) -> np.ndarray:
    """s, the standard deviation of one query's attention logits over `keys` keys: s^2 = ln(n) / 2."""
    return np.sqrt(0.5 * np.log(np.maximum(np.asarray(keys, dtype=float), 1.0)))


def selection_correlation(hash_bits, head_dim) -> np.ndarray:
    """rho between a key's attention logit and its sign-random-projection (SimHash) score with `hash_bits` bits.

    Each bit differs between q and k with probability theta / pi (Charikar, STOC 2002), so the Hamming fraction
    estimates theta / pi with variance about 1 / (4 h) near theta = pi / 2; across keys the logit follows
    cos(theta) ~ pi/2 - theta, whose spread for directions as random as independent vectors is 1 / sqrt(d):
    rho^2 = var(signal) / (var(signal) + var(noise)) = 1 / (1 + pi^2 d / (4 h))."""
    h = np.maximum(np.asarray(hash_bits, dtype=float), 1.0)
    return 1.0 / np.sqrt(1.0 + np.pi ** 2 * np.asarray(head_dim, dtype=float) / (4.0 * h))


def prune_nsr(keep, keys, rho=1.0) -> np.ndarray:
    """Noise-to-signal ratio of S.V's output when only the fraction `keep` of `keys` keys is kept (module law).

    keep is floored at one key (1 / keys); keep >= 1 gives exactly 0."""
    from scipy.special import ndtr, ndtri

    n = np.maximum(np.asarray(keys, dtype=float), 1.0)
    f = np.clip(np.asarray(keep, dtype=float), 1.0 / n, 1.0)
    full = f >= 1.0
    t = ndtri(1.0 - select(full, 0.5, f))          # Q^-1(f) = Phi^-1(1 - f)
    rs = np.asarray(rho, dtype=float) * attention_spread(n)
    m = ndtr(t - rs)                                   # dropped share of the attention mass
    d2 = ndtr(t - 2.0 * rs)                            # dropped share of sum p^2
    nsr = (m / (1.0 - m)) ** 2 * (1.0 - d2) + d2
    return select(full, 0.0, nsr)


def design_prune_nsr(p, keys: float, head_dim: float) -> np.ndarray | None:
    """The S.V pruning NSR of a batch of designs (params arrays), or None when no design prunes."""
    keep = np.asarray(p["kv_keep"], dtype=float)
    if not np.any(keep < 1.0):
        return None
    cam = np.asarray(p["token_select"]) == 1             # token_select: cam (choices none, cam)
    rho = select(cam, selection_correlation(p["cam_hash_bits"], head_dim), 1.0)
    return prune_nsr(keep, keys, rho)


def with_pruning(nsr: dict, p, shapes) -> dict:
    """`nsr` (errmodel.nsr_terms' {kind: {term: array}}) with S.V's `kv_prune` term set from the designs' kv_keep,
    token_select and cam_hash_bits; unchanged when no design prunes or the model has no attention."""
    if "score_v" not in shapes.names or "kv_keep" not in p:
        return nsr
    names = list(shapes.names)
    term = design_prune_nsr(p, float(shapes.k[names.index("score_v")]), float(shapes.k[names.index("qk_scores")]))
    if term is None:
        return nsr
    return {**nsr, "score_v": {**nsr["score_v"], "kv_prune": term}}
