"""`cimdse merge`: join the run folders of shards 1..N of an exhaustive sweep into one run, with the exact front."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ..config import Sweep
from ..errors import UserError
from ..pareto import pareto_order
from ..results import distinct_designs, group_equal, run_record, sweep_fingerprint
from ..search.exhaustive import space_size
from .folder import SHARD_FILE, RunResult, default_run_dir, prepare_run_dir
from .outputs import write_run_figures, write_tables


def merge_shards(sweep: Sweep, dirs: list[str | Path], out: str | Path | None = None,
                 plots: bool = True) -> RunResult:
    """Join the run folders of shards 1..N of an exhaustive sweep into one trials.csv and the exact front.

    trials.csv is the shards' rows end to end, written like an unsharded run's (so byte-identical to it: the
    table is re-read exactly and re-written whole, since how a column is written depends on all its values);
    the front is taken over the union of the shards' fronts at full precision (a design dominated inside its
    shard is dominated overall), and pareto.csv holds those rows in the unsharded run's order.
    """
    import pandas as pd

    if sweep.search.sampler != "exhaustive":
        raise UserError("only exhaustive sweeps are sharded; collect an Optuna study with `cimdse sweep FILE "
                        "--storage URL --collect`", file=sweep.path, key="search.sampler")
    if not dirs:
        raise UserError("name the run folders of the shards to merge", key="DIRS")
    fp, total = sweep_fingerprint(sweep), space_size(sweep)
    shards = []
    for d in map(Path, dirs):
        try:
            info = json.loads((d / SHARD_FILE).read_text())
            lo, hi = info["designs"]
            table = None
            if hi > lo:  # exact floats (pandas 3 parses them exactly by default); empty violations stay ""
                exact = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
                table = pd.read_csv(d / "trials.csv", keep_default_na=False, **exact)
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise UserError(f"is not a finished shard of an exhaustive sweep ({type(err).__name__}: "
                            f"{str(err).splitlines()[0] if str(err) else ''})", file=str(d)) from None
        if info.get("fingerprint") != fp or info.get("total") != total:
            raise UserError(f"holds a shard of a different sweep than {sweep.path}", file=str(d))
        if table is not None and table["trial"].to_list() != list(range(lo, hi)):
            raise UserError(f"trials.csv does not hold designs {lo}..{hi - 1} of this sweep", file=str(d))
        shards.append((info, table, d))
    count = shards[0][0]["count"]
    seen = sorted(info["index"] for info, _, _ in shards)
    if any(info["count"] != count for info, _, _ in shards) or seen != list(range(1, count + 1)):
        missing = sorted(set(range(1, count + 1)) - set(seen))
        dup = sorted({i for i in seen if seen.count(i) > 1})
        raise UserError(f"expected shards 1..{count} once each; "
                        + (f"missing {missing} " if missing else "") + (f"repeated {dup} " if dup else "")
                        + f"(got {seen})", key="DIRS")
    shards.sort(key=lambda x: x[0]["index"])
    tables, trials, values, held = [], [], [], 0
    for info, table, d in shards:
        lo, hi = info["designs"]
        if lo != held:
            raise UserError(f"shard {info['index']} starts at design {lo}, expected {held}", file=str(d))
        held = hi
        if table is not None:
            tables.append(table)
        trials.extend(info["front_trials"])
        values.extend(info["front_values"])
    if held != total:
        raise UserError(f"the shards hold {held} of the {total} designs", key="DIRS")
    run_dir = Path(out) if out else default_run_dir(sweep)
    prepare_run_dir(sweep, run_dir, fresh=False)
    start = time.perf_counter()
    df = pd.concat(tables, ignore_index=True)
    front_rows: list[int] = []
    if trials:
        v = np.asarray(values, dtype=float).reshape(len(trials), len(sweep.objectives))
        front_rows = [trials[i] for i in pareto_order(v, [dr for _, dr in sweep.objectives])]
    front = group_equal(distinct_designs(df.iloc[front_rows]), sweep.objectives)
    record = run_record(sweep, {"merged_from": [str(d) for _, _, d in shards], "shards": count})
    write_tables(sweep, run_dir, record, df, front, "complete", plots)
    if plots:
        write_run_figures(run_dir, df, sweep)
    return RunResult(run_dir, df, front, "complete", time.perf_counter() - start, len(df),
                     int(df["feasible"].sum()), len(front))
