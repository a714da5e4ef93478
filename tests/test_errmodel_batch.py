"""The error model's batch path (ADC term per configuration of slices, sorted pair sums, clipping table only for
clipped designs) gives every design the numbers it gets alone: a design's result never depends on its batch."""

import numpy as np
import pytest
from _designs import default_batch, every_choice_drawn

from cimdse.cost import evaluate_arrays
from cimdse.cost.errmodel import matmul_nsr
from cimdse.cost.params import PARAMS
from cimdse.workload import Scenario

SC = Scenario(prompt_tokens=512, generate_tokens=128)


def _random_designs(n: int, seed: int = 7) -> dict:
    """n designs with every categorical parameter, the array geometry, precisions, ADC and its range varied."""
    rng = np.random.default_rng(seed)
    b = every_choice_drawn(n, rng)
    b["rows"] = 2.0 ** rng.integers(6, 11, n)
    b["rows_active"] = np.where(rng.random(n) < 0.5, 0.0, b["rows"] / 2.0 ** rng.integers(0, 4, n))
    b["bits_per_cell"] = rng.integers(1, 4, n).astype(float)
    b["adc_bits"] = rng.integers(3, 11, n).astype(float)
    b["weight_bits"] = rng.integers(2, 9, n).astype(float)
    b["input_bits"] = rng.integers(2, 9, n).astype(float)
    b["dac_bits"] = rng.integers(1, 5, n).astype(float)
    # a third clip the partial sums at a random range (the clipping table path)
    b["adc_range_sigma"] = np.where(rng.random(n) < 0.3, np.round(rng.uniform(0.5, 6.0, n), 3), 0.0)
    return b


@pytest.mark.parametrize("seed", [7, 3, 11])
def test_batch_equals_one_design_at_a_time(seed):
    n = 120
    b = _random_designs(n, seed)
    whole = evaluate_arrays(b, "llama-2-7b", SC)
    nsr = matmul_nsr(b, "llama-2-7b", SC)
    assert np.any(nsr["q_proj"]["adc"] > 0)
    for i in range(n):
        one = {k: v[i:i + 1] for k, v in b.items()}
        alone = evaluate_arrays(one, "llama-2-7b", SC)
        for m in ("equivalent_bits", "logit_sqnr_db"):
            np.testing.assert_array_equal(alone[m], whole[m][i:i + 1], err_msg=f"design {i}, {m}")
        nsr_one = matmul_nsr(one, "llama-2-7b", SC)
        for kind, terms in nsr_one.items():   # the same bits: sums over slices in order, whatever the padding
            for term, v in terms.items():
                np.testing.assert_array_equal(v, nsr[kind][term][i:i + 1], err_msg=f"design {i}, {kind}, {term}")


def _repeating_designs(n: int, seed: int = 11) -> dict:
    """n designs drawn from few choices (a sweep's shape: many designs per error configuration), clipped ADC ranges
    from three values, IR drop per design (rows x cols x device x node), attention-token pruning."""
    rng = np.random.default_rng(seed)
    b = default_batch(n)
    for name in ("device", "compute", "weight_encoding", "column_combine", "attention"):
        b[name] = rng.integers(0, len(PARAMS[name].choices), n)
    b["rows"] = 2.0 ** rng.integers(6, 9, n)
    b["cols"] = 2.0 ** rng.integers(6, 11, n)
    b["node_nm"] = rng.choice([22.0, 28.0, 45.0], n)
    b["bits_per_cell"] = rng.integers(1, 3, n).astype(float)
    b["adc_bits"] = rng.integers(4, 8, n).astype(float)
    b["adc_range_sigma"] = rng.choice([0.0, 0.0, 2.5, 4.0], n)
    b["kv_keep"] = rng.choice([1.0, 0.5, 0.1], n)   # S.V's pruning term, per design
    b["token_select"] = rng.integers(0, len(PARAMS["token_select"].choices), n)
    return b


def _ungrouped(monkeypatch, b: dict) -> dict:
    """The cost model's metrics of `b` with the error model's grouping turned off (every design computed alone)."""
    from cimdse.cost import errgroups

    monkeypatch.setattr(errgroups, "MIN_GROUPED", 10**9)
    out = evaluate_arrays(b, "llama-2-7b", SC)
    monkeypatch.undo()
    return out


def test_grouped_error_model_gives_the_same_bits(monkeypatch):
    """error_metrics computes the NSR terms once per distinct configuration (cost/errgroups.py) where a batch repeats
    them; the result must be bit-identical to the per-design computation (grouping turned off)."""
    from cimdse.cost import errgroups, errmodel

    b = _repeating_designs(8000)
    calls = []
    real = errmodel._grouped_logit_nsr
    monkeypatch.setattr(errmodel, "_grouped_logit_nsr", lambda *a: calls.append(len(a[3][0])) or real(*a))
    grouped = evaluate_arrays(b, "llama-2-7b", SC)
    assert calls and max(calls) < 4000   # the grouped path ran, on far fewer configurations than designs
    monkeypatch.setattr(errgroups, "MIN_GROUPED", 10**9)
    direct = evaluate_arrays(b, "llama-2-7b", SC)
    assert np.any(direct["ir_drop_frac"] > 0) and np.unique(direct["logit_sqnr_db"]).size > 100
    for m in ("equivalent_bits", "logit_sqnr_db", "sqnr_db"):
        np.testing.assert_array_equal(grouped[m], direct[m], err_msg=m)


def test_chunked_batch_scores_accuracy_once_with_the_same_bits(monkeypatch):
    """A batch of several chunks scores its accuracy metrics once for the whole batch (cost/accmetrics.py), grouped
    over all its designs: the same bits as one chunk per design set scored alone without grouping."""
    from cimdse.cost import accmetrics, model

    b = _repeating_designs(8000)
    direct = _ungrouped(monkeypatch, b)
    calls = []
    real = accmetrics.accuracy_metrics
    monkeypatch.setattr(accmetrics, "accuracy_metrics", lambda p, *a: calls.append(len(p["rows"])) or real(p, *a))
    monkeypatch.setattr(model, "CHUNK_DESIGNS", 3000)   # chunks of 2667, 2667, 2666 designs
    chunked = evaluate_arrays(b, "llama-2-7b", SC)
    assert calls == [8000]                               # once, for the whole batch
    assert list(chunked) == list(direct)                 # the metrics in the same order
    for m in ("equivalent_bits", "logit_sqnr_db", "sqnr_db"):
        np.testing.assert_array_equal(chunked[m], direct[m], err_msg=m)


def test_sliced_accuracy_of_a_large_batch_gives_the_same_bits(monkeypatch):
    """A batch larger than accmetrics.ROWS adds its per-design accuracy terms (IR drop, pruning, the gathers) in
    slices of ROWS designs: the same bits as the per-design computation (grouping off), for slices that do not
    divide the batch (8000 = 2 x 3000 + 2000)."""
    from cimdse.cost import accmetrics, errmodel

    b = _repeating_designs(8000)
    direct = _ungrouped(monkeypatch, b)
    calls = []
    real = errmodel.logit_rows
    monkeypatch.setattr(accmetrics, "logit_rows", lambda plan, s: calls.append(s) or real(plan, s))
    monkeypatch.setattr(accmetrics, "ROWS", 3000)
    sliced = evaluate_arrays(b, "llama-2-7b", SC)
    assert calls == [slice(0, 3000), slice(3000, 6000), slice(6000, 9000)]   # the sliced path ran
    assert np.any(sliced["ir_drop_frac"] > 0)
    for m in ("equivalent_bits", "logit_sqnr_db", "sqnr_db"):
        np.testing.assert_array_equal(sliced[m], direct[m], err_msg=m)


def test_unique_inverse_packed_and_argsort_agree():
    """errgroups.unique_inverse packs key and position into one int64 where they fit, else argsorts: both give
    np.unique's groups (ascending values) and an element of each."""
    from cimdse.cost.errgroups import unique_inverse

    rng = np.random.default_rng(3)
    for key in (rng.integers(0, 50, 5000), rng.integers(0, 50, 5000) << 55, rng.random(300).round(1)):
        first, inv = unique_inverse(key)
        uniq, ref_inv = np.unique(key, return_inverse=True)
        np.testing.assert_array_equal(inv, ref_inv.reshape(-1))
        np.testing.assert_array_equal(key[first], uniq)


def test_design_groups_refuses_what_it_cannot_pack():
    """Fractional integer columns and device constants that vary within a device are not grouped (None)."""
    from cimdse.cost.errgroups import design_groups

    n = 1000
    p = {"device": np.arange(n) % 3}
    kw = {"sigma": np.array([0.0, 0.02, 0.05])[p["device"]]}
    rows = np.full(n, 256.0)
    assert design_groups(p, kw, ("sigma",), (rows,), (), n) is not None
    assert design_groups(p, kw, ("sigma",), (rows + 0.5,), (), n) is None
    assert design_groups(p, {"sigma": kw["sigma"] + np.arange(n) * 1e-9}, ("sigma",), (rows,), (), n) is None
    # columns are packed as x - min: 7 columns of large values near 2^20 fit in the 63 bits where 7 x 21 would not
    wide = tuple(np.full(n, 2.0**20) + (np.arange(n) // 7 % k) for k in (2, 3, 1, 1, 2, 1, 3))
    first, inv = design_groups(p, kw, ("sigma",), wide, (), n)
    key = np.stack([p["device"], *wide], axis=1)
    assert len(first) == len(np.unique(key, axis=0))
    np.testing.assert_array_equal(key[first][inv], key)   # every design is in the group of its own values



def test_design_groups_decides_on_its_first_designs_alone():
    """A large batch whose first SAMPLE designs are nearly all distinct is not grouped, decided from those designs'
    own key (packed by their own ranges, large values and a varied adc_range_sigma included) before the whole
    batch's; one that repeats there is grouped over the whole batch."""
    from cimdse.cost.errgroups import SAMPLE, design_groups

    n = 3 * SAMPLE
    rng = np.random.default_rng(5)
    p = {"device": np.arange(n) % 3, "adc_range_sigma": np.where(np.arange(n) % 2 == 0, 0.0, 3.5)}
    kw = {"sigma": np.array([0.0, 0.02, 0.05])[p["device"]]}
    distinct = (np.arange(n) * 1.0 + 2.0**40, np.arange(n) % 5 * 1.0)   # unique per design: refused
    assert design_groups(p, kw, ("sigma",), distinct, (np.arange(n) % 2 == 1,), n) is None
    few = (rng.integers(0, 4, n) * 64.0 + 2.0**40, rng.integers(2, 9, n) * 1.0)   # at most 3 x 4 x 7 x 2 groups
    first, inv = design_groups(p, kw, ("sigma",), few, (np.arange(n) % 2 == 1,), n)
    key = np.stack([p["device"], *few, p["adc_range_sigma"]], axis=1)
    assert len(first) == len(np.unique(key, axis=0))
    np.testing.assert_array_equal(key[first][inv], key)
    # distinct only after the first SAMPLE designs: grouped as far as the sample tells, refused by the share
    m = 5 * SAMPLE   # (4/5 of the designs distinct: above MAX_GROUP_SHARE)
    q = {"device": np.arange(m) % 3}
    late = (np.where(np.arange(m) < SAMPLE, 64.0, np.arange(m) * 1.0),)
    assert design_groups(q, {"sigma": 0.02}, ("sigma",), late, (), m) is None
    late = (np.where(np.arange(m) < 4 * SAMPLE, 64.0, np.arange(m) * 1.0),)   # 1/5 distinct: grouped
    assert len(design_groups(q, {"sigma": 0.02}, ("sigma",), late, (), m)[0]) == SAMPLE + 3


def test_kept_per_configuration_tables_give_the_same_bits(monkeypatch):
    """The pair rows and clipping tables kept across calls (errmodel._cached) give the bits a fresh computation
    gives, when a call finds all, some or none of its configurations kept."""
    from cimdse.cost import errmodel

    b = _random_designs(400, seed=3)
    stores = ("_ROWS_CACHE", "_CLIP_CACHE")
    for s in stores:
        monkeypatch.setattr(errmodel, s, {})
    fresh = evaluate_arrays(b, "llama-2-7b", SC)
    for s in stores:
        monkeypatch.setattr(errmodel, s, {})
    half = {k: v[:200] for k, v in b.items()}
    evaluate_arrays(half, "llama-2-7b", SC)
    rows_after_half = {k: len(v[0]) for k, v in errmodel._CLIP_CACHE.items()}
    again = evaluate_arrays(b, "llama-2-7b", SC)   # some configurations kept, the others added
    grew = [k for k, n in rows_after_half.items() if len(errmodel._CLIP_CACHE[k][0]) > n]
    assert grew, "no clipping table found part of its configurations kept"
    hit = evaluate_arrays(b, "llama-2-7b", SC)     # every configuration kept
    for m in ("equivalent_bits", "logit_sqnr_db"):
        np.testing.assert_array_equal(again[m], fresh[m], err_msg=m)
        np.testing.assert_array_equal(hit[m], fresh[m], err_msg=m)


@pytest.mark.parametrize("model", ["llama-2-7b", "bert-large", "mixtral-8x7b"])
def test_logit_nsr_from_parts_is_logit_nsr_of_the_terms(monkeypatch, model):
    """The cost model's ungrouped logit NSR (errlogit.logit_nsr_parts over errmodel.nsr_parts) is, bit for bit,
    errstats.logit_nsr of with_pruning(nsr_terms(...)) (it leaves out only additions of zeros): over random designs
    with IR drop and pruning, and over their converting designs alone (ix: every design) and their digital ones
    (ix: none)."""
    from cimdse.cost import errmodel
    from cimdse.cost.errlogit import logit_nsr_parts
    from cimdse.cost.errstats import logit_nsr
    from cimdse.cost.pruning import with_pruning

    b = _random_designs(600, seed=5)
    rng = np.random.default_rng(5)
    b["kv_keep"] = np.where(rng.random(600) < 0.5, 1.0, rng.uniform(0.01, 1.0, 600))
    calls = []
    real = errmodel.nsr_parts
    monkeypatch.setattr(errmodel, "nsr_parts", lambda p, shapes, **kw: calls.append((p, shapes, kw)) or
                        real(p, shapes, **kw))
    evaluate_arrays(b, model, SC)
    monkeypatch.undo()
    assert calls, "the ungrouped path did not run"
    p, shapes, kw = calls[0]
    kw = {k: v for k, v in kw.items() if k != "codes"}   # (the caller's combinations, if any: not nsr_terms')
    analog = np.asarray(kw["analog"])
    assert 0 < analog.sum() < len(analog) and np.any(np.asarray(kw["ir_drop_frac"]) > 0)
    for sel in (slice(None), analog, ~analog):
        cut = lambda v, s=sel: v[s] if np.ndim(v) else v  # noqa: E731
        ps, kws = {k: cut(v) for k, v in p.items()}, {k: cut(v) for k, v in kw.items()}
        ref = logit_nsr(with_pruning(errmodel.nsr_terms(ps, shapes, **kws), ps, shapes), shapes)
        got = logit_nsr_parts(*errmodel.nsr_parts(ps, shapes, **kws), ps, shapes)
        assert np.all(ref > 0)
        np.testing.assert_array_equal(got.view(np.int64), np.asarray(ref, dtype=float).view(np.int64))


def test_operand_codes_number_the_combinations():
    """erroperands.operand_codes: every design's combination gives back its own columns bit for bit (by the dense
    table and by the sort, for wide columns), and anything but whole non-negative numbers, or combinations beyond
    int32 codes, is refused (None)."""
    from cimdse.cost.erroperands import operand_codes

    rng = np.random.default_rng(9)
    n = 5000
    for hi in (16, 3000):   # 17 x 9 x 2 combinations (table); 3001 x 9 x 2 > 64 n (sort)
        a, b = rng.integers(0, hi + 1, n).astype(float), rng.integers(0, 9, n).astype(float)
        f = rng.random(n) < 0.3
        cols, inv = operand_codes([a, b], [f])
        assert len(cols[0]) == len(np.unique(np.stack([a, b, f]), axis=1).T)
        for got, want in zip(cols, (a, b, f), strict=True):
            np.testing.assert_array_equal(got.take(inv), want)
            assert got.dtype == want.dtype
    for bad in (0.5, -1.0, -0.0, np.nan, np.inf, 3e9):   # (3e9: beyond the int32 codes)
        a = np.arange(10.0)
        a[3] = bad
        assert operand_codes([a], []) is None, bad
    wide = np.arange(10.0) * 5000.0   # 45,001^2 x 2 codes: more than int32 holds
    assert operand_codes([wide, wide], [wide > 0]) is None


def test_factors_per_combination_give_the_same_bits(monkeypatch):
    """The error model and sqnr_db compute the factors of precisions and slicing once per combination in large
    batches (erroperands.CODED_DESIGNS) and per design in small ones: the same bits either way, every term of every
    kind (matmul_nsr) and the cost model's accuracy metrics."""
    from cimdse.cost import accmetrics, errmodel, erroperands

    b = _random_designs(3000, seed=13)
    b["kv_keep"] = np.where(np.arange(3000) % 2 == 0, 1.0, 0.25)
    out, shared = {}, []
    real = accmetrics._codes
    monkeypatch.setattr(accmetrics, "_codes", lambda *a: shared.append(1) or real(*a))
    for least in (10**9, 0):
        monkeypatch.setattr(erroperands, "CODED_DESIGNS", least)
        for s in ("_ROWS_CACHE", "_CLIP_CACHE"):   # (each way builds its per-configuration tables itself)
            monkeypatch.setattr(errmodel, s, {})
        out[least] = evaluate_arrays(b, "llama-2-7b", SC), matmul_nsr(b, "llama-2-7b", SC)
    assert shared == [1]   # the combinations numbered once for sqnr_db and the error model (ungrouped batch)
    (direct, nsr_direct), (coded, nsr_coded) = out[10**9], out[0]
    for m in ("equivalent_bits", "logit_sqnr_db", "sqnr_db"):
        np.testing.assert_array_equal(coded[m], direct[m], err_msg=m)
    for kind, terms in nsr_direct.items():
        for term, v in terms.items():
            np.testing.assert_array_equal(nsr_coded[kind][term], v, err_msg=f"{kind}, {term}")


def test_query_order_sorts_by_group_then_key():
    """errgroups.query_order is a permutation sorted by group and then by key to 1/64 (packed sort), and falls back
    to an argsort where the key is not finite."""
    from cimdse.cost.errgroups import query_order

    rng = np.random.default_rng(4)
    g, k = rng.integers(0, 300, 20000), rng.uniform(0.0, 2100.0, 20000)
    order = query_order(g, k)
    np.testing.assert_array_equal(np.sort(order), np.arange(20000))
    pairs = np.stack([g[order], np.floor(k[order] * 64)], axis=1)
    assert np.all(np.diff(pairs[:, 0]) >= 0)
    same = np.diff(pairs[:, 0]) == 0
    assert np.all(np.diff(pairs[:, 1])[same] >= 0)
    k[5] = np.nan
    np.testing.assert_array_equal(query_order(g, k), np.argsort(g * 2200.0 + k))


def test_noise_tables_over_own_slices_give_the_same_bits(monkeypatch):
    """errslices._noise_tables sums a large table over each row's own input slices only (RAGGED_CELLS) and a small
    one over all T slices (the padded ones add zeros): the same bits either way, every term of every kind."""
    from cimdse.cost import errslices

    b = _random_designs(2000, seed=17)
    b["input_bits"] = np.random.default_rng(17).integers(1, 17, 2000).astype(float)   # 1 to 16 input slices
    out = {}
    for cells in (10**12, 0):
        monkeypatch.setattr(errslices, "RAGGED_CELLS", cells)
        out[cells] = matmul_nsr(b, "llama-2-7b", SC)
    assert np.any(out[0]["q_proj"]["device"] > 0)
    for kind, terms in out[0].items():
        for term, v in terms.items():
            np.testing.assert_array_equal(v, out[10**12][kind][term], err_msg=f"{kind}, {term}")


def test_dense_inverse_groups_as_unique_inverse():
    """errgroups.dense_inverse numbers the groups as unique_inverse (ascending keys) by a table, or falls back to it
    for wide keys; its member of each group holds that group's key."""
    from cimdse.cost.errgroups import dense_inverse, unique_inverse

    rng = np.random.default_rng(6)
    for key in (rng.integers(0, 5000, 20000), rng.integers(0, 10**9, 300), np.zeros(7, dtype=np.int64)):
        first, inv = dense_inverse(key)
        ref_first, ref_inv = unique_inverse(key)
        np.testing.assert_array_equal(inv, ref_inv)
        np.testing.assert_array_equal(key[first], key[ref_first])
