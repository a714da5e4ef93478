"""Device technologies and circuit blocks as data with citations (tech/data/*.yaml), plus lookups.

Every leaf in the data files is {value, unit, source, note} and may carry an uncertainty band {low, high,
band_source} (cimdse/tech/bands.py; docs/MODEL.md "Uncertainty bands"). The cost model reads values through a
`Tech`: `load_tech()` is the shipped data, `load_tech(FILE)` the shipped data with a user's technology file merged
over it (cimdse/tech/override.py). The laws that turn them into energy, latency and area are in cimdse/cost/.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib import resources
from pathlib import Path

import numpy as np
import yaml

DEVICES = ("sram", "rram", "pcm", "mram", "fefet", "dram")
OFFCHIP = ("hbm3", "hbm2e", "ddr5", "lpddr5", "gddr6")

DEVICE_KEYS = (
    "cell_area_f2", "max_bits_per_cell", "r_on_ohm", "r_off_ohm", "cell_cap_ff", "ref_node_nm", "read_voltage_v",
    "read_pulse_ns", "write_energy_pj", "write_latency_ns", "endurance_cycles", "sigma_g_rel",
    "leakage_pw_per_cell", "row_activate_ns", "activate_pj_per_bit", "column_pj_per_bit", "write_verify_pulses",
)


# The data files, by the section name a technology file uses for each (devices.yaml: its `devices:` mapping).
SECTIONS = ("devices", "periphery", "memory", "leakage", "noise", "gpus", "cam")


def _read(name: str) -> dict:
    text = resources.files("cimdse.tech").joinpath(f"data/{name}").read_text()
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))   # libyaml: several times faster


def _values(tree: dict) -> dict:
    """Strip {value, unit, source} leaves down to their values, keeping the nesting."""
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict) and "value" in v and "source" in v:
            out[k] = v["value"]
        elif isinstance(v, dict):
            out[k] = _values(v)
        else:
            out[k] = v
    return out


@dataclass(frozen=True)
class Tech:
    """All constants, as plain values, with per-device columns as numpy arrays in DEVICES order."""

    raw: dict            # the data files as read (with units and sources), for `cimdse devices`
    device: dict         # key -> np.ndarray over DEVICES
    capacitive: np.ndarray
    nonvolatile: np.ndarray
    dram: np.ndarray     # True for bank-level DRAM PIM (digital MAC units next to the banks)
    periphery: dict
    offchip: dict        # key -> np.ndarray over OFFCHIP
    interconnect: dict
    vdd_nodes: np.ndarray
    vdd_values: np.ndarray
    cam: dict = field(default_factory=dict)   # cam.yaml values: TCAM and analog CAM blocks (cost/cam.py)
    path: str | None = None      # the technology file merged over the shipped data (None: shipped data only)
    overrides: dict = field(default_factory=dict)   # that file as read (checked), for run.yaml
    digest: str = ""             # hash of `overrides` ("" for the shipped data), in a run's fingerprint
    # tables derived once per Tech; init=False: dataclasses.replace gives the copy an empty one, never the original's
    memo: dict = field(default_factory=dict, init=False, compare=False, repr=False)

    def cap_scale(self, node_nm, ref_nm) -> np.ndarray:
        """Switched capacitance of CMOS logic at node_nm relative to ref_nm (Stillmaker and Baas 2017, Table 5,
        read at one supply; periphery.yaml cmos_energy_scaling); Dennard scaling would give node_nm / ref_nm."""
        return self.cap_factor(node_nm) / self.cap_factor(ref_nm)

    @cached_property
    def _cap_table(self) -> tuple[np.ndarray, np.ndarray]:
        """(nodes ascending, factor at each) of the Stillmaker-Baas energy polynomials at the reference supply."""
        cs = self.periphery["cmos_energy_scaling"]
        nodes = np.asarray(cs["nodes_nm"], dtype=float)              # descending, 130 .. 7 nm
        v0 = cs["ref_vdd_v"]
        k = np.array([a * v0 * v0 + b * v0 + c for a, b, c in cs["energy_poly"]])
        return nodes[::-1].copy(), k[::-1].copy()

    @property
    def finfet_max_nm(self) -> float:
        """Largest node built from FinFETs (periphery.yaml node_families); larger nodes are planar."""
        return float(self.periphery["node_families"]["finfet_max_nm"])

    @cached_property
    def _cap_planar_law(self) -> tuple[float, float, float]:
        """(smallest planar table node, k there, exponent) of the planar power law k = k_p (F / F_p)^g below the
        planar rows, g the log-log slope of the last two planar rows (node_families)."""
        nodes, k = self._cap_table
        return planar_power_law(nodes, k, self.finfet_max_nm)

    def cap_factor(self, node_nm) -> np.ndarray:
        """The switched-capacitance factor k(node) of cap_scale: linear in the node inside each device family's
        rows (planar, FinFET), never across the break between them: a planar node below the smallest planar row
        follows the planar power law (docs/MODEL.md 17); times sqrt(F / edge) outside the table (the rule of
        Accelergy's hwcomponents)."""
        if np.ndim(node_nm) == 0:  # a reference node of the data files: computed once per value
            memo = self._cap_scalars
            key = float(node_nm)
            if key not in memo:
                memo[key] = self._cap_factor_array(np.asarray(key))
            return memo[key]
        return self._cap_factor_array(np.asarray(node_nm, dtype=float))

    @cached_property
    def device_ref_cap_factor(self) -> np.ndarray:
        """cap_factor at each device's reference node (DEVICES order); 1 where a device has none (ref_node_nm 0)."""
        ref = self.device["ref_node_nm"]
        return np.array([self.cap_factor(float(r)) if r > 0 else 1.0 for r in ref], dtype=float)

    @cached_property
    def _cap_scalars(self) -> dict:
        return {}

    def _cap_factor_array(self, f: np.ndarray) -> np.ndarray:
        nodes, k = self._cap_table
        lo, hi = nodes[0], nodes[-1]
        inside = np.interp(np.clip(f, lo, hi), nodes, k)
        f_p, k_p, g = self._cap_planar_law
        gap = (f > self.finfet_max_nm) & (f < f_p)                   # planar nodes below the planar rows
        inside = np.where(gap, k_p * (np.maximum(f, 1e-9) / f_p) ** g, inside)
        edge = np.where(f < lo, lo, np.where(f > hi, hi, f))
        k = inside * np.sqrt(f / edge)
        offset = float(self.periphery["node_families"]["finfet_cap_factor"])
        if offset != 1.0:           # an uncertainty sample of the FinFET rows relative to the planar ones
            k = np.where(f <= self.finfet_max_nm, k * offset, k)
        return k

    def vdd_for_node(self, node_nm: np.ndarray) -> np.ndarray:
        """Supply voltage by node, linear in log(node) between table entries, clamped at the ends."""
        return np.interp(np.log(node_nm), np.log(self.vdd_nodes), self.vdd_values)


def planar_power_law(nodes: np.ndarray, values: np.ndarray, finfet_max_nm: float) -> tuple[float, float, float]:
    """(F_p, v_p, g): the smallest planar row of a per-node table (nodes ascending), its value, and the log-log
    slope of the last two planar rows, so that a planar node F below F_p gets v_p (F / F_p)^g."""
    planar = np.flatnonzero(nodes > finfet_max_nm)
    i, j = planar[0], planar[1]
    g = float(np.log(values[j] / values[i]) / np.log(nodes[j] / nodes[i]))
    return float(nodes[i]), float(values[i]), g


@cache
def shipped_raw() -> dict:
    """The shipped data files as read, one tree per SECTIONS name (never modified: copies are merged into)."""
    raw = {stem: _read(f"{stem}.yaml") for stem in SECTIONS}
    raw["devices"] = raw["devices"]["devices"]
    return raw


@cache
def _shipped() -> Tech:
    return build_tech(shipped_raw())


def load_tech(path: str | Path | None = None) -> Tech:
    """The technology: the shipped data files (path None, read once), or a technology file's overrides merged
    over them (a UserError naming the file and key for an unknown key or a value of the wrong type)."""
    if path is None:
        return _shipped()
    from .override import tech_from_file

    return tech_from_file(path)


def build_tech(raw: dict, path: str | None = None, overrides: dict | None = None, digest: str = "") -> Tech:
    """A Tech from data trees laid out as `shipped_raw()` (the shipped ones or a merged copy)."""
    devices, periphery, memory = raw["devices"], raw["periphery"], raw["memory"]
    dev_vals = {d: _values(devices[d]) for d in DEVICES}
    device = {k: np.array([float(dev_vals[d].get(k, 0.0) or 0.0) for d in DEVICES]) for k in DEVICE_KEYS}
    per = _values(periphery)
    vdd = {float(k): float(v) for k, v in per.pop("vdd_by_node").items()}
    nodes = np.array(sorted(vdd))
    mem = _values(memory)
    offchip = {k: np.array([float(mem["offchip"][m][k]) for m in OFFCHIP])
               for k in ("energy_pj_per_bit", "bandwidth_gbps", "capacity_gb")}
    return Tech(
        raw=raw,
        device=device,
        capacitive=np.array([dev_vals[d]["kind"] == "capacitive" for d in DEVICES]),
        nonvolatile=np.array([bool(dev_vals[d]["nonvolatile"]) for d in DEVICES]),
        dram=np.array([dev_vals[d]["kind"] == "dram" for d in DEVICES]),
        periphery=per,
        offchip=offchip,
        interconnect={k: float(v) for k, v in mem["interconnect"].items()},
        vdd_nodes=nodes,
        vdd_values=np.array([vdd[n] for n in nodes]),
        cam=_values(raw["cam"]),
        path=path,
        overrides=overrides or {},
        digest=digest,
    )


def memo(tech: Tech, name: str, build):
    """build(tech), computed once per Tech and name (a Tech is read-only once built)."""
    hit = tech.memo.get(name)
    if hit is None:
        hit = tech.memo[name] = build(tech)
    return hit


def overridden(tech: Tech, section: str, *keys: str) -> bool:
    """True where the technology file set this leaf (or something under it)."""
    node = tech.overrides.get(section)
    for k in keys:
        if not isinstance(node, dict) or k not in node:
            return False
        node = node[k]
    return node is not None


def device_rows(tech: Tech | None = None) -> list[dict]:
    """One row per technology with value, unit and source of each parameter (for `cimdse devices`); a value set
    by the technology file says "user file" (and the file) as its source."""
    tech = tech or load_tech()
    rows = []
    for d in DEVICES:
        entry = tech.raw["devices"][d]
        for k in DEVICE_KEYS:
            if k in entry:
                leaf = entry[k]
                user = overridden(tech, "devices", d, k)
                rows.append({"device": d, "parameter": k, "value": leaf["value"], "unit": leaf["unit"],
                             "source": leaf["source"], "user": user})   # merge() wrote "user file ..." in
    return rows
