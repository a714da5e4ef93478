"""A streamed exhaustive run: designs are scored, written to trials.csv (and trials.parquet on request) and folded
into the running Pareto front chunk by chunk, so memory stays bounded whatever the size of the space.

Each chunk (`chunk_job`, run here or on a worker process) scores its designs, writes its rows as a headerless CSV
part and returns only what the run keeps: its feasible non-dominated rows, a fixed sample of rows for the figures
and the report, and counts. The parent appends the parts to trials.csv in enumeration order and merges the fronts
(front of the chunk and running front), so the result does not depend on the chunk size or the number of workers.

trials.csv is byte-identical to writing the whole table at once (`results.write_csv`): a float column is written as
integers only when every one of its values is whole, which a chunk cannot know; chunks that guessed wrong are
scored again and rewritten at the end (rare: a metric whole in one chunk and not in another).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from ..config import Sweep
from ..cost.params import PARAMS
from ..pareto import pareto_mask
from ..results import csv_frame, trials_columns, write_csv_rows
from ..search.exhaustive import CHUNK, map_chunks, progress, score_range
from ..search.progress import Progress, StopFlag, Tally

KEEP_ROWS = 100_000   # rows of a streamed run kept in memory for the figures and the report (all of a smaller run)
TRIALS_CSV = "trials.csv"
TRIALS_PARQUET = "trials.parquet"


@dataclass
class ChunkOut:
    """What a scored chunk hands back to the parent (its CSV rows are in the file `part`)."""

    lo: int
    hi: int
    part: str
    parquet: str | None
    header: str
    whole: frozenset          # float columns written as integers in this chunk
    feasible: int
    front: object             # pandas DataFrame: the chunk's feasible non-dominated rows (full precision)
    sample: object            # pandas DataFrame: the chunk's rows kept for figures and report


@dataclass
class Streamed:
    """The outcome of a streamed run: the rows kept (every row of a run of at most KEEP_ROWS designs, else the front
    plus a fixed sample), the running front's rows, and counts."""

    kept: object              # pandas DataFrame, in trial order
    front: object             # pandas DataFrame: every feasible non-dominated design (ties included), trial order
    done: int = 0             # designs scored and written (a contiguous run from the first)
    feasible: int = 0
    sampled: bool = False     # kept holds a sample, not every row
    parts: list = field(default_factory=list)


def clean_start() -> str:
    """The start method of the chunk workers: fork where the platform has it and polars is not loaded in this process
    (the workers start at once, with the cost model and the sweep already loaded: spawned ones spent about 0.6 s of
    CPU each importing), else spawn: polars' thread pool does not survive a fork of a process that has used it (the
    worker hangs). Not forkserver: its server process would outlive the run in the caller's process (a notebook),
    and a library leaves no process behind."""
    import multiprocessing as mp
    import sys

    return "fork" if "fork" in mp.get_all_start_methods() and "polars" not in sys.modules else "spawn"


def keep_mask(lo: int, hi: int, fraction: float) -> np.ndarray:
    """Which designs lo..hi-1 a run keeps in memory for its figures: a fixed pseudo-random share `fraction` chosen by
    a hash of the design's index (splitmix64's multiplier), so the choice depends on neither chunks nor workers."""
    if fraction >= 1.0:
        return np.ones(hi - lo, dtype=bool)
    i = np.arange(lo, hi, dtype=np.uint64)
    h = (i * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(11)     # wraps modulo 2^64 by design
    return h.astype(float) < fraction * float(1 << 53)


def front_rows(df, objectives) -> np.ndarray:
    """Positions of the feasible non-dominated rows of a table (full-precision objectives), ascending."""
    feas = np.flatnonzero(df["feasible"].to_numpy(dtype=bool))
    if not len(feas):
        return feas
    values = df[[k for k, _ in objectives]].to_numpy(dtype=float)[feas]
    return feas[pareto_mask(values, [d for _, d in objectives])]


def chunk_job(sweep: Sweep, lo: int, hi: int, *, folder: str, tag: str, fraction: float, parquet: bool,
              as_float: frozenset = frozenset()) -> ChunkOut:
    """Score designs lo..hi-1, write their trials.csv rows (no header) to a part file in `folder`, and return the
    chunk's front, its kept rows and counts. Runs on a worker process: the part file, not the rows, goes back."""
    import pandas as pd

    scored = score_range(sweep, lo, hi)
    cols = trials_columns(scored, np.arange(lo, hi))
    cats = {k: (scored.batch[k], p.choices) for k, p in PARAMS.items() if p.kind == "cat"}
    frame, whole = csv_frame(cols, as_float, codes=cats)
    part = Path(folder) / f".trials-{lo:012d}.csv.tmp-{tag}"
    with open(part, "wb") as f:
        write_csv_rows(frame, f)
    pq = None
    if parquet:
        pq = str(Path(folder) / f".trials-{lo:012d}.parquet.tmp-{tag}")
        parquet_frame(pd.DataFrame(cols)).write_parquet(pq)
    feas = np.flatnonzero(np.asarray(cols["feasible"], dtype=bool))
    if len(feas):
        values = np.column_stack([np.asarray(cols[k], dtype=float)[feas] for k, _ in sweep.objectives])
        feas = feas[pareto_mask(values, [d for _, d in sweep.objectives])]
    keep = np.flatnonzero(keep_mask(lo, hi, fraction))
    # pandas rows only for what the run keeps (the front and the sample), not for the whole chunk
    return ChunkOut(lo, hi, str(part), pq, frame.clear().write_csv(line_terminator="\n"), whole,
                    int(np.count_nonzero(cols["feasible"])), pd.DataFrame({k: v[feas] for k, v in cols.items()}),
                    pd.DataFrame({k: v[keep] for k, v in cols.items()} if len(keep) < hi - lo else cols))


def parquet_frame(df):
    """A trials table as a typed polars DataFrame for Parquet (full precision; categories and text as strings)."""
    import polars as pl

    return pl.DataFrame([pl.Series(str(c), df[c].to_numpy().astype(str) if df[c].dtype == object
                                   else df[c].to_numpy()) for c in df.columns])


def stream_exhaustive(sweep: Sweep, run_dir: Path, first: int, end: int, workers: int = 1,
                      stop: StopFlag | None = None, on_batch: Callable[[Progress], None] | None = None,
                      parquet: bool = False, chunk: int = CHUNK, keep_rows: int | None = None,
                      fork: bool = False) -> Streamed:
    """Score designs first..end-1 chunk by chunk (on `workers` processes) and write RUN_DIR/trials.csv (and
    trials.parquet) as they come; returns the kept rows and the front. A first Ctrl-C (`stop`) ends after the
    chunks in flight: the files then hold a contiguous run of designs from `first`. Files appear under their
    final names only when complete; a killed run leaves temporaries that the next run removes (it starts over).
    `fork`: the workers may be forked (clean_start), else spawned."""
    import pandas as pd

    run_dir = Path(run_dir)
    tag = str(os.getpid())
    total = end - first
    keep_rows = KEEP_ROWS if keep_rows is None else keep_rows
    fraction = 1.0 if total <= keep_rows else keep_rows / total
    job = partial(chunk_job, folder=str(run_dir), tag=tag, fraction=fraction, parquet=parquet)
    tmp = run_dir / f".{TRIALS_CSV}.tmp-{tag}"
    tally = Tally([d for _, d in sweep.objectives])
    start = time.perf_counter()
    front, kept, parts, pq_parts = None, [], [], []
    feasible = done = 0
    try:
        with open(tmp, "wb") as out:
            for res, _, hi in map_chunks(sweep, job, chunk, stop, first, end, workers,
                                              clean_start() if fork else "spawn"):
                if not parts:
                    out.write(res.header.encode())
                at = out.tell()
                append_file(res.part, out)
                os.unlink(res.part)
                parts.append((res.lo, res.hi, at, out.tell(), res.whole))
                if res.parquet:
                    pq_parts.append(res.parquet)
                feasible += res.feasible
                done = hi - first
                kept.append(res.sample)
                cand = res.front if front is None else pd.concat([front, res.front], ignore_index=True)
                front = cand.iloc[front_rows(cand, sweep.objectives)] if len(cand) else cand
                if on_batch:
                    tally.feasible = feasible
                    tally.front = front[[k for k, _ in sweep.objectives]].to_numpy(dtype=float)
                    on_batch(progress(tally, done, total, start))
        if parts:
            _fix_whole_columns(sweep, run_dir, tmp, parts, tag)
            os.replace(tmp, run_dir / TRIALS_CSV)
            if pq_parts:
                _join_parquet(pq_parts, run_dir / TRIALS_PARQUET, tag)
    finally:
        tmp.unlink(missing_ok=True)
        for p in pq_parts:
            Path(p).unlink(missing_ok=True)
        for p in run_dir.glob(f".trials-*.tmp-{tag}"):   # parts of chunks in flight when an error stopped the run
            p.unlink(missing_ok=True)
    if not parts:
        return Streamed(pd.DataFrame(), pd.DataFrame())
    rows = pd.concat([*kept, front], ignore_index=True)
    rows = rows.drop_duplicates("trial").sort_values("trial", kind="stable").reset_index(drop=True)
    return Streamed(rows, front.reset_index(drop=True), done, feasible, fraction < 1.0, parts)


def append_file(path: str, out) -> None:
    """Append the file at `path` to the open binary file `out`: in the kernel where it can (Linux
    copy_file_range: no copy through Python's buffers), else by a buffered copy."""
    out.flush()
    with open(path, "rb") as src:
        left = os.fstat(src.fileno()).st_size
        try:
            while left > 0:
                n = os.copy_file_range(src.fileno(), out.fileno(), left)
                if n == 0:
                    break
                left -= n
        except (AttributeError, OSError):   # no copy_file_range (not Linux) or not across these file systems
            pass
        if left > 0:
            src.seek(os.fstat(src.fileno()).st_size - left)
            shutil.copyfileobj(src, out, 1 << 22)
    out.seek(0, os.SEEK_END)


def _fix_whole_columns(sweep: Sweep, run_dir: Path, tmp: Path, parts: list, tag: str) -> None:
    """Rewrite the chunks that wrote a float column as integers when another chunk had a fraction in it (so the
    file equals the whole table written at once); the other chunks' bytes are copied as they are."""
    whole = frozenset.intersection(*(p[4] for p in parts))
    if all(p[4] == whole for p in parts):
        return
    fractional = frozenset.union(*(p[4] for p in parts)) - whole
    fixed = tmp.with_name(f".{TRIALS_CSV}.fix.tmp-{tag}")
    try:
        with open(tmp, "rb") as src, open(fixed, "wb") as out:
            out.write(src.read(parts[0][2]))          # the header
            for lo, hi, a, b, w in parts:
                if w == whole:
                    src.seek(a)
                    out.write(src.read(b - a))
                    continue
                res = chunk_job(sweep, lo, hi, folder=str(run_dir), tag=tag, fraction=0.0, parquet=False,
                                as_float=fractional)
                append_file(res.part, out)
                os.unlink(res.part)
        os.replace(fixed, tmp)
    finally:
        fixed.unlink(missing_ok=True)


def _join_parquet(parts: list[str], path: Path, tag: str) -> None:
    """Join the chunks' Parquet files into one, streaming (polars' lazy sink), then rename it into place."""
    import polars as pl

    tmp = path.with_name(f".{path.name}.tmp-{tag}")
    try:
        pl.scan_parquet(parts).sink_parquet(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
