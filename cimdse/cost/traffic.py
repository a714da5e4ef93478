"""Data movement at the real split points of each matrix: NoC multicast and partial sums, chip-to-chip links
inside and between packages, and the global buffer's bandwidth for the KV cache (docs/MODEL.md 'Traffic').

Per vector through one k x n matrix that occupies `arrays` arrays (`row_tiles` of them along k):
- NoC: the input travels `hops` to the nearest tile holding the matrix and is multicast over its t tiles (a tree
  of t - 1 links); the n outputs travel `hops` back; when its row tiles sit in g > 1 tiles, n partial sums of
  `psum_bits` reduce over g - 1 links.
- Chips: when the matrix spans c > 1 chips, its input crosses c - 1 chip boundaries (multicast), and when its row
  tiles span r > 1 chips, n partial sums cross r - 1 boundaries (c, r at most chips_used: a matrix larger than the
  chips of an `overflow: reload` design is streamed through them, not spread).
Pure numpy; (N, J) arrays per matrix shape, (N,) per design.
"""

from __future__ import annotations

import numpy as np

from ..tech import Tech
from ._util import all_shapes_at_once
from ._util import ceil as _ceil


def psum_bits(input_bits, weight_bits, k) -> np.ndarray:
    """Width of an exact partial sum of k products of input_bits x weight_bits values: b_in + b_w + ceil(log2 k)."""
    return input_bits + weight_bits + np.ceil(np.log2(np.maximum(k, 1)) - 1e-9)


def noc_bit_hops(k, n, bits, pbits, tiles_spanned, tile_groups, hops) -> np.ndarray:
    """Bit-hops on the NoC for one vector through one matrix (multicast in, outputs back, partial sums)."""
    return (k + n) * bits * hops + noc_extra_bit_hops(k, n, bits, pbits, tiles_spanned, tile_groups)


def noc_extra_bit_hops(k, n, bits, pbits, tiles_spanned, tile_groups) -> np.ndarray:
    """The part of `noc_bit_hops` beyond the average distance: the multicast tree over the matrix's tiles and the
    partial sums between its tile groups (the cost model adds bits x hops x (inputs + outputs) per pass itself)."""
    # (k x bits: column-major when they broadcast to (N, J), like the cost model's other per-shape arrays)
    return np.multiply(k, bits, order="F") * (tiles_spanned - 1) + (tile_groups - 1) * n * pbits


def chip_link_bits(k, n, bits, pbits, chips_spanned, row_chips) -> np.ndarray:
    """Bits crossing chip boundaries for one vector through one matrix split over chips."""
    return (chips_spanned - 1) * k * bits + (row_chips - 1) * n * pbits


def board_fraction(chips_used, chips_per_package) -> np.ndarray:
    """Fraction of the chip-to-chip boundaries of a chain of chips that leave a package (board links)."""
    packages = _ceil(chips_used / chips_per_package)
    return (packages - 1) / np.maximum(chips_used - 1, 1)


def kv_buffer_gbps(global_buffer_mb, chips_used, clock_ghz, tech: Tech) -> np.ndarray:
    """Read bandwidth (GB/s) of the global buffers of all chips: banks x 64 bit per clock cycle."""
    dig = tech.periphery["digital"]
    banks = np.maximum(_ceil(global_buffer_mb * 1e6 / (dig["sram_bank_kb"] * 1024)), 1)
    return banks * chips_used * dig["sram_bank_bits_per_cycle"] * clock_ghz / 8


def traffic_constants(p: dict, wl, mp: dict, hops, tech: Tech) -> dict:
    """Per-design traffic quantities that every pass shares (see the module docstring): per phase, the extra NoC
    bit-hops (`noc_extra_bit_hops`) and the chip-link bits of the split matrices (`chip_link_bits`) of one pass, each
    summed over the shapes j with the vectors through j in shape order (the sum of _util.dot_shapes; one shape at a
    time, so its (N,) temporaries stay in cache); link_bits_pass is None where no matrix of any design spans chips."""
    bits = p["input_bits"]
    apt, tiles = p["arrays_per_tile"], p["tiles"]
    per_chip = apt * tiles
    bw = p["input_bits"] + p["weight_bits"]
    log_k = np.ceil(np.log2(np.maximum(wl.k, 1)) - 1e-9)       # psum_bits(b_in, b_w, k): log2 k once per shape
    ic = tech.interconnect
    chips = mp["chips_used"]
    f_board = board_fraction(chips, p["chips_per_package"])
    several = chips > 1
    phases = list(wl.vectors)
    # each phase's vectors through each shape, (J, phases): a shape's term of every phase in one multiply, summed in
    # (N, phases) column-major arrays (each phase's column contiguous; the same products and sums as phase by phase)
    per_shape = np.array([[wl.vectors[ph][j] for ph in phases] for j in range(len(wl.k))])
    noc = link = None
    split = []
    # a small batch computes every shape's terms at once ((N, J) arrays), a large one shape by shape; elementwise
    # either way (the same numbers), summed over the shapes in shape order
    whole = all_shapes_at_once(len(bits), len(wl.k))
    if whole:
        terms = _shape_terms(wl.k[None, :], wl.n[None, :], mp["row_tiles"], mp["col_tiles"], bits[:, None],
                             (bw[:, None] + log_k[None, :]), apt[:, None], tiles[:, None], per_chip[:, None],
                             several[:, None], chips[:, None])
    link_all = None   # (whole: the (N, J) chip-link bits, made where a first matrix spans chips)
    for j in range(len(wl.k)):
        if whole:
            noc_j, split_j = terms[0][:, j], terms[1][:, j]
        else:
            terms = _shape_terms(wl.k[j], wl.n[j], mp["row_tiles"][:, j], mp["col_tiles"][:, j], bits, bw + log_k[j],
                                 apt, tiles, per_chip, several, chips)
            noc_j, split_j = terms[0], terms[1]
        noc = _add_pass(noc, per_shape[j], noc_j)
        split.append(split_j)
        if split_j.any():   # this matrix spans chips in some design: input multicast and partial sums cross
            if whole:
                link_all = terms[2]() if link_all is None else link_all
                link_j = link_all[:, j]
            else:
                link_j = terms[2]()
            link = _add_pass(link, per_shape[j], link_j)   # (a matrix that spans no chip adds exact zeros: left out)
    hop_count = chips - 1
    if link is not None:   # one more hop per split stage
        split_stages = 0.0
        for stage in wl.stage_shapes:
            any_split = split[stage[0]]
            for j in stage[1:]:
                any_split = any_split | split[j]
            split_stages = split_stages + any_split
        for j in wl.single_shapes:
            split_stages = split_stages + split[j] / wl.model.layers
        hop_count = hop_count + wl.model.layers * split_stages
    return {
        "noc_extra_pass": {ph: noc[:, i] for i, ph in enumerate(phases)},
        "link_bits_pass": None if link is None else {ph: link[:, i] for i, ph in enumerate(phases)},
        "e_link_eff": (1 - f_board) * ic["chip_link_pj_per_bit"] + f_board * ic["board_link_pj_per_bit"],
        "link_ns_per_bit": ((1 - f_board) / ic["chip_link_gbps"] + f_board / ic["board_link_gbps"]) / 8,
        "link_hop_ns": hop_count * ic["chip_link_latency_ns"],   # a boundary of the chain, a split stage of a layer
        "kv_buffer_gbps": kv_buffer_gbps(p["global_buffer_mb"], mp["chips_used"], p["clock_ghz"], tech),
    }


def _shape_terms(k, n, rt, ct, bits, pb, apt, tiles, per_chip, several, chips) -> tuple:
    """Of one matrix shape (k, n scalars, the rest per design) or of all (k, n (1, J), the rest (N, J) or (N, 1)):
    the extra NoC bit-hops, whether it spans chips, and (a function: computed only where some design's matrix spans
    chips) its chip-link bits."""
    arrays = rt * ct
    # (arrays, row tiles >= 1 and arrays_per_tile <= 4096: both ratios are at least 1/4096, so each ceil is >= 1)
    t_span = np.minimum(np.ceil(arrays / apt), tiles)
    g_span = np.minimum(np.ceil(rt / apt), tiles)
    # with overflow: reload one chip streams every matrix through itself
    split = (arrays > per_chip) & several

    def link():
        if np.ndim(k) == 0:   # one shape: priced on the designs it splits only (elsewhere both spans are 1 chip and
            i = np.flatnonzero(split)   # the bits an exact +0.0, as chip_link_bits gives for chips_used >= 1)
            out = np.zeros(len(split))
            a, r, pc, ch = arrays[i], rt[i], per_chip[i], chips[i]
            c_span = np.minimum(np.maximum(_ceil(a / pc), 1), ch)
            r_span = np.minimum(np.maximum(_ceil(r / pc), 1), ch)
            out[i] = chip_link_bits(k, n, bits[i], pb[i], c_span, r_span)
            return out
        c_span = np.minimum(np.maximum(_ceil(arrays / per_chip), 1), chips)
        r_span = np.minimum(np.maximum(_ceil(rt / per_chip), 1), chips)
        return chip_link_bits(k, n, bits, pb, c_span, r_span)

    return noc_extra_bit_hops(k, n, bits, pb, t_span, g_span), split, link


def _add_pass(acc, vectors, x: np.ndarray) -> np.ndarray:
    """acc (N, phases) + x (N,) times the vectors through its shape in each phase (phases,), in place (acc None: the
    first shape's terms)."""
    term = np.multiply(x[:, None], vectors[None, :], order="F")
    if acc is None:
        return term
    acc += term
    return acc
