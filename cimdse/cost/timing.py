"""Timing laws: the fastest clock a node and supply allow, and what a fast ADC costs (docs/MODEL.md 'Timing').

- `fmax_ghz`: f_max = 1 / (n_FO4 t_FO4(F, V)); the FO4 delay at the node's nominal supply from the
  Stillmaker-Baas delay fits, and its supply dependence t_FO4 ~ V / drive(V): the alpha-power law (Sakurai and
  Newton, JSSC 1990) above threshold, exponential below it, with a logic threshold calibrated on measured silicon.
- `adc_energy_pj`: the ZigZag-IMC ADC law with its kT/C (4^B) term held at the calibration supply, each term
  multiplied by max(1, f_s / f_corner) of Murmann's survey envelopes (Walden corner for the switching term,
  Schreier corner for the thermal term).
Pure numpy over a batch; constants from periphery.yaml (timing, adc, adc_speed).
"""

from __future__ import annotations

import numpy as np

from ..tech import Tech, memo, planar_power_law
from ._select import WHERE_BELOW, mask_bits, pick_bits


def memo_table(tech: Tech, data: dict, name: str, build):
    """build(data) for a part `data` of `tech`, computed once per Tech and name (kept in Tech.memo: a Tech is
    read-only once built, and a technology file or an uncertainty sample is another Tech)."""
    return memo(tech, "table:" + name, lambda _: build(data))


def _fo4_nominal_table(tech: Tech) -> tuple[np.ndarray, np.ndarray]:
    """(log node ascending, log FO4 delay in ps at the node's nominal supply) of the Stillmaker-Baas table."""
    return memo_table(tech, tech.periphery["timing"], "fo4", lambda tm: _fo4_table(tm, tech))


def _fo4_table(tm: dict, tech: Tech) -> tuple[np.ndarray, np.ndarray]:
    """Log-log table; the planar nodes between the FinFET rows and the smallest planar row are added as rows of
    the planar power law (docs/MODEL.md 17), so that interpolation never crosses the planar/FinFET break."""
    nodes = np.asarray(tm["fo4_nodes_nm"], dtype=float)
    v_nom = tech.vdd_for_node(nodes)
    ps = np.array([np.polyval(c, v) for c, v in zip(tm["fo4_delay_poly"], v_nom, strict=True)])
    order = np.argsort(nodes)
    nodes, ps = nodes[order], ps[order]
    fin = tech.finfet_max_nm
    f_p, t_p, g = planar_power_law(nodes, ps, fin)
    edge = np.nextafter(fin, np.inf)                 # just above the largest FinFET row: the planar law from there
    nodes, ps = np.insert(nodes, np.searchsorted(nodes, edge), edge), np.insert(ps, np.searchsorted(nodes, edge),
                                                                               t_p * (edge / f_p) ** g)
    return np.log(nodes), np.log(ps)


# kT/q (V) at the default junction temperature, 27 C (params temperature_c): k = 8.617333262e-5 eV/K (CODATA 2018)
THERMAL_VOLTAGE_V = 8.617333262e-5 * (273.15 + 27.0)


def drive(vdd, vth, tm: dict) -> np.ndarray:
    """On-current (arbitrary unit) of logic at supply `vdd` (V): (V - V_th)^a well above threshold (alpha-power law),
    exponential with slope n kT/q below it, joined as [s ln(1 + e^((V - V_th)/s))]^a with s = a n kT/q (the EKV
    interpolation of Enz, Krummenacher and Vittoz, Analog Integr. Circ. Sig. Process. 8, 1995, with exponent a)."""
    s = tm["alpha"] * tm["subthreshold_n"] * THERMAL_VOLTAGE_V
    return (s * np.logaddexp(0.0, (np.asarray(vdd, dtype=float) - vth) / s)) ** tm["alpha"]


def fmax_ghz(vdd, node_nm, tech: Tech, v_nom=None, log_node=None, node_part=None) -> np.ndarray:
    """Highest clock (GHz) of logic at supply `vdd` (V) and node `node_nm`: one cycle is n_FO4 FO4 delays, the FO4
    delay scaling as V / drive(V) from the node's nominal supply. `v_nom` (the node's nominal supply), `log_node` and
    `node_part` (fmax_node_part) when the caller has them."""
    v = np.asarray(vdd, dtype=float)
    if node_part is None:
        node = np.asarray(node_nm, dtype=float)
        log_node = np.log(node) if log_node is None else log_node
        v_nom = tech.vdd_for_node(node) if v_nom is None else v_nom
        node_part = fmax_node_part(node, tech, v_nom, log_node)
    f_nom, vt = node_part
    return f_nom * drive(v, vt, tech.periphery["timing"]) / v


FEW_SUPPLIES = 4   # set supplies up to which fmax_at_supplies computes the law once per supply


def fmax_at_supplies(vdd_set, is_set, vdd, node, tech: Tech, nq: dict) -> np.ndarray:
    """fmax_ghz per design from the quantities of nodes.node_quantities `nq`, computed once per supply where few are
    set: a design at its node's nominal supply (is_set False) takes nq's f_max there (the same law per node), and
    one of at most FEW_SUPPLIES set supplies V takes f_nom drive(V) / V with drive computed once (elementwise: the
    same numbers); otherwise the law per design. vdd_set: the designs' vdd parameter, vdd: their supplies."""
    f_nom, vt = nq["f_nom"], nq["vth"]
    if not is_set.any():
        return nq["fmax_nom"]
    if len(vdd) < WHERE_BELOW or not (vt == vt[0]).all():
        return fmax_ghz(vdd, node, tech, node_part=(f_nom, vt))
    supplies, covered = np.unique(vdd_set[:FEW_SUPPLIES * 16]), ~is_set   # (candidates from the first designs)
    supplies = supplies[supplies > 0]
    if len(supplies) > FEW_SUPPLIES:
        return fmax_ghz(vdd, node, tech, node_part=(f_nom, vt))
    at = [vdd_set == v for v in supplies]
    for m in at:
        covered |= m
    if not covered.all():   # more supplies than the first designs show: the law per design
        return fmax_ghz(vdd, node, tech, node_part=(f_nom, vt))
    out = nq["fmax_nom"]
    for v, m in zip(supplies, at, strict=True):
        d = drive(np.array([v]), vt[:1], tech.periphery["timing"])
        out = pick_bits(mask_bits(m), f_nom * d / v, out)   # (f_nom x drive) / V, as fmax_ghz
    return out


def fmax_node_part(node, tech: Tech, v_nom, log_node) -> tuple[np.ndarray, np.ndarray]:
    """The factors of fmax_ghz that depend on the node alone: (f_nom, V_th) with f_max = f_nom drive(V) / V."""
    log_nodes, log_ps = _fo4_nominal_table(tech)
    t_nom = np.exp(np.interp(log_node, log_nodes, log_ps))   # ps at v_nom; log-log between nodes, held outside
    tm = tech.periphery["timing"]
    vt = np.full(np.shape(node), float(tm["logic_vth_v"]))
    # 1 / t_FO4(V) = (1 / t_nom) [drive(V) / V] / [drive(V_nom) / V_nom]
    return 1e3 / (tm["fo4_per_cycle"] * t_nom) * (v_nom / drive(v_nom, vt, tm)), vt


def fo4_ps(node_nm, vdd, tech: Tech) -> np.ndarray:
    """FO4 inverter delay (ps) at node `node_nm` and supply `vdd`."""
    f = fmax_ghz(vdd, node_nm, tech)
    with np.errstate(divide="ignore"):
        return 1e3 / (tech.periphery["timing"]["fo4_per_cycle"] * f)


def adc_rate_factor(fs_hz, corner_hz) -> np.ndarray:
    """Energy per conversion relative to a slow converter: 1 up to the corner, then proportional to f_s."""
    return np.maximum(1.0, np.asarray(fs_hz, dtype=float) / corner_hz)


def adc_energy_pj(bits, vdd, t_conv_ns, tech: Tech, k_node) -> np.ndarray:
    """Energy (pJ) of one conversion of a `bits`-bit ADC converting every `t_conv_ns` ns at supply `vdd`.

    `k_node`: the Stillmaker-Baas capacitance factor of the designs' node (Tech.cap_factor)."""
    adc, sp = tech.periphery["adc"], tech.periphery["adc_speed"]
    fs_hz = 1e9 / np.maximum(t_conv_ns, 1e-6)      # (a conversion under 1 fs only guards the division)
    switching = adc["linear_fj_per_bit"] * bits * (k_node / tech.cap_factor(adc["ref_node_nm"])) * vdd**2
    thermal = adc["thermal_fj"] * np.exp2(2 * bits) * adc["thermal_ref_vdd_v"] ** 2
    return (switching * adc_rate_factor(fs_hz, sp["walden_corner_hz"])
            + thermal * adc_rate_factor(fs_hz, sp["schreier_corner_hz"])) * 1e-3


def adc_area_um2(b: np.ndarray, tech: Tech) -> np.ndarray:
    """10^(slope b + intercept) 2^b (um^2 at the reference node) per design: for whole resolutions from a table of
    the same law (once per Tech), else per design. b: ADC bits per design."""
    adc = tech.periphery["adc"]
    law = lambda x: 10 ** (adc["area_log10_slope"] * x + adc["area_log10_intercept"]) * np.exp2(x)  # noqa: E731
    bi = b.astype(np.int64)
    if len(b) and bi.min() >= 0 and bi.max() <= 64 and np.array_equal(bi, b):
        return memo_table(tech, adc, "adc_area", lambda _: law(np.arange(65.0))).take(bi)
    return law(b)
