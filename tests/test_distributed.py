"""Sweeps beyond one process: --workers on the default journal, several processes on a real PostgreSQL server,
--collect, exhaustive shards and their merge, the shared trial budget, and the options' error messages."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _small_sweep import front_trials, sweep, write_small
from click.testing import CliRunner

from cimdse.cli import main

ROOT = Path(__file__).resolve().parent.parent
OBJS = [("energy_per_token_uj", "minimize"), ("sqnr_db", "maximize")]

def write(tmp_path: Path, sampler="tpe", trials=40, name="d", batch=6, extra="") -> Path:
    return write_small(tmp_path, sampler, trials, name, batch, extra)


def brute_front(trials: list[int], values: np.ndarray, feasible: np.ndarray) -> set[int]:
    """Feasible trials that no feasible trial dominates (pairwise, in minimization space)."""
    v = values * np.array([1.0 if d == "minimize" else -1.0 for _, d in OBJS])
    keep = set()
    for i in np.flatnonzero(feasible):
        others = v[feasible]
        if not np.any(np.all(others <= v[i], axis=1) & np.any(others < v[i], axis=1)):
            keep.add(int(trials[i]))
    return keep


def csv_front(df) -> set[int]:
    return brute_front(df["trial"].to_list(), df[[k for k, _ in OBJS]].to_numpy(float),
                       df["feasible"].to_numpy(bool))


def study_summary(study):
    """Complete trials of a study: numbers, param tuples, objective values, feasibility from its constraints."""
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))

    def feasible(t) -> bool:
        cons = t.constraints if hasattr(t, "constraints") else dict(enumerate(t.system_attrs["constraints"]))
        return all(v <= 0 for v in cons.values())

    return ([t.number for t in done], [tuple(sorted(t.params.items())) for t in done],
            np.array([t.values for t in done], dtype=float), np.array([feasible(t) for t in done]))


def load(storage: str, run_dir: Path, name: str):
    import optuna

    from cimdse.search.optuna_api import open_storage

    return optuna.load_study(study_name=name, storage=open_storage(storage, run_dir))


# ------------------------------------------------------------------------------------------------ --workers

def test_two_workers_share_the_budget_exactly(tmp_path):
    out = tmp_path / "w2"
    r = sweep(write(tmp_path, trials=40), "--out", out, "--workers", 2, "--quiet")
    assert r.exit_code == 0, r.output
    df = pd.read_csv(out / "trials.csv")
    assert len(df) == 40 and df["trial"].is_unique
    study = load(str(out / "study.journal"), out, "d")
    numbers, params, values, feas = study_summary(study)
    assert len(numbers) == 40 and sorted(numbers) == df["trial"].to_list()
    from optuna.trial import TrialState

    assert not study.get_trials(states=(TrialState.RUNNING,))
    # the CSV's front is the front of what the study holds
    assert front_trials(pd.read_csv(out / "pareto.csv")) == csv_front(df) == brute_front(numbers, values, feas)
    # both workers took part: seeds 3 and 4 give different first samples, so no two trials started alike
    assert study.trials[0].params != study.trials[1].params


def test_one_worker_is_byte_identical_to_the_plain_run(tmp_path):
    f = write(tmp_path, trials=24)
    assert sweep(f, "--out", tmp_path / "a", "--quiet").exit_code == 0
    assert sweep(f, "--out", tmp_path / "b", "--quiet", "--workers", 1).exit_code == 0
    for name in ("trials.csv", "pareto.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_surplus_asks_are_closed_and_the_budget_holds(tmp_path):
    """Two workers ask at once for the last slots: ranks by trial number decide, surplus trials are failed."""
    import optuna
    from optuna.trial import TrialState

    from cimdse.config import load_sweep
    from cimdse.search.optuna_api import SURPLUS_ATTR, distributions, drop_surplus, open_study

    sw = load_sweep(write(tmp_path, "random", trials=5))
    a, b = open_study(sw, tmp_path, None), open_study(sw, tmp_path, None)  # two handles, as two processes
    dists = distributions(sw)
    asked_a = [a.ask(dists) for _ in range(3)]          # trials 0, 1, 2: both saw 5 free slots
    asked_b = [b.ask(dists) for _ in range(3)]          # trials 3, 4, 5
    keep_a, keep_b = drop_surplus(a, asked_a, 5), drop_surplus(b, asked_b, 5)
    assert [t.number for t in keep_a] == [0, 1, 2] and [t.number for t in keep_b] == [3, 4]
    for t in keep_a + keep_b:
        (a if t in keep_a else b).tell(t, [1.0, 1.0])
    trials = a.get_trials()
    assert [t.state for t in trials].count(TrialState.COMPLETE) == 5
    assert trials[5].state == TrialState.FAIL and trials[5].user_attrs[SURPLUS_ATTR] is True
    # a trial failed in the middle frees its slot for a later ask, never more than 5 complete
    assert isinstance(a, optuna.Study)


def test_stale_running_trials_are_closed(tmp_path):
    from optuna.trial import TrialState

    from cimdse.config import load_sweep
    from cimdse.search.optuna_api import distributions, fail_running_trials, open_study

    sw = load_sweep(write(tmp_path, "random", trials=5))
    study = open_study(sw, tmp_path, None)
    study.ask(distributions(sw))
    assert fail_running_trials(study, 3600.0) == 0        # a live batch is left alone
    assert fail_running_trials(study, 0.0) == 1
    assert study.get_trials()[0].state == TrialState.FAIL


# ------------------------------------------------------------------------------------------------ shards

def test_exhaustive_on_worker_processes_equals_one_process(tmp_path):
    """--workers N scores chunks of the enumeration in N processes; joined in order, the outputs are the same
    bytes as one process's (162 designs in chunks of 20: 9 chunks, more than 2 x 3 in flight)."""
    from cimdse.config import load_sweep
    from cimdse.search.exhaustive import run_exhaustive

    f = write(tmp_path, "exhaustive", name="ex")
    for n in (1, 3):
        r = sweep(f, "--out", tmp_path / f"w{n}", "--workers", n, "--quiet")
        assert r.exit_code == 0, r.output
    for name in ("trials.csv", "pareto.csv"):
        assert (tmp_path / "w1" / name).read_bytes() == (tmp_path / "w3" / name).read_bytes(), name
    sw = load_sweep(f)
    one, pool = run_exhaustive(sw, chunk=20), run_exhaustive(sw, chunk=20, workers=3)
    assert len(pool.objectives) == 162
    np.testing.assert_array_equal(one.objectives, pool.objectives)
    np.testing.assert_array_equal(one.violation_text, pool.violation_text)


def test_three_shards_merge_into_the_unsharded_run(tmp_path):
    f = write(tmp_path, "exhaustive", name="ex")
    assert sweep(f, "--out", tmp_path / "whole", "--quiet").exit_code == 0
    dirs = []
    for i in (1, 2, 3):
        d = tmp_path / f"s{i}"
        r = sweep(f, "--shard", f"{i}/3", "--out", d, "--quiet")
        assert r.exit_code == 0, r.output
        dirs.append(d)
    # 162 designs in three blocks of 54 (shard_bounds: floor((i-1)*162/3) .. floor(i*162/3))
    assert [len(pd.read_csv(d / "trials.csv")) for d in dirs] == [54, 54, 54]
    assert pd.read_csv(dirs[1] / "trials.csv")["trial"].to_list() == list(range(54, 108))
    r = CliRunner().invoke(main, ["merge", str(f), *map(str, reversed(dirs)), "--out", str(tmp_path / "merged")])
    assert r.exit_code == 0, r.output
    for name in ("trials.csv", "pareto.csv"):
        assert (tmp_path / "merged" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    merged = pd.read_csv(tmp_path / "merged" / "trials.csv")
    assert front_trials(pd.read_csv(tmp_path / "merged" / "pareto.csv")) == csv_front(merged)
    assert (tmp_path / "merged" / "pareto.png").stat().st_size > 1000
    # a missing shard or a shard of another sweep is refused in one line
    r = CliRunner().invoke(main, ["merge", str(f), str(dirs[0]), str(dirs[2]), "--out", str(tmp_path / "m2")])
    assert r.exit_code == 2 and "missing [2]" in r.output and len(r.output.strip().splitlines()) == 1
    other = write(tmp_path, "exhaustive", name="other")
    r = CliRunner().invoke(main, ["merge", str(other), *map(str, dirs), "--out", str(tmp_path / "m3")])
    assert r.exit_code == 2 and "different sweep" in r.output


def test_merge_formats_columns_like_the_unsharded_run(tmp_path):
    """clock_ghz varies slowest, so shard 1 holds only 1.0 GHz: alone it writes that column as integers ("1"),
    while the whole table, holding 1.5 too, writes floats ("1.0"); the merge must write what the whole run does."""
    body = write(tmp_path, "exhaustive", name="clk").read_text()
    body = body.replace("space:\n", "space:\n  clock_ghz: [1.0, 1.5]\n")
    (tmp_path / "clk.yaml").write_text(body)
    f = tmp_path / "clk.yaml"
    assert sweep(f, "--out", tmp_path / "whole", "--quiet").exit_code == 0
    dirs = [tmp_path / f"c{i}" for i in (1, 2)]
    for i, d in enumerate(dirs, 1):
        assert sweep(f, "--shard", f"{i}/2", "--out", d, "--quiet").exit_code == 0
    assert set(pd.read_csv(dirs[0] / "trials.csv")["clock_ghz"]) == {1.0}
    r = CliRunner().invoke(main, ["merge", str(f), *map(str, dirs), "--out", str(tmp_path / "merged")])
    assert r.exit_code == 0, r.output
    for name in ("trials.csv", "pareto.csv"):
        assert (tmp_path / "merged" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


def test_more_shards_than_designs(tmp_path):
    f = write(tmp_path, "exhaustive", name="tiny").read_text().replace("tiles: [512, 1024, 4096]", "tiles: [512]")
    (tmp_path / "tiny.yaml").write_text(f.replace("adc_bits: {low: 4, high: 9}", "adc_bits: [6]"))
    dirs = []
    for i in range(1, 13):  # 9 designs, 12 shards: three shards are empty
        d = tmp_path / f"t{i}"
        assert sweep(tmp_path / "tiny.yaml", "--shard", f"{i}/12", "--out", d, "--quiet").exit_code == 0
        dirs.append(d)
    assert sweep(tmp_path / "tiny.yaml", "--out", tmp_path / "whole", "--quiet").exit_code == 0
    r = CliRunner().invoke(main, ["merge", str(tmp_path / "tiny.yaml"), *map(str, dirs), "--out", str(tmp_path / "m")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "m" / "trials.csv").read_bytes() == (tmp_path / "whole" / "trials.csv").read_bytes()


# ------------------------------------------------------------------------------------------------ bad options

@pytest.mark.parametrize("args,needle", [
    (["--workers", "0"], "--workers"),
    (["--workers", "-3"], "--workers"),
    (["--shard", "4/3"], "--shard"),
    (["--shard", "0/3"], "--shard"),
    (["--shard", "two"], "--shard"),
    (["--shard", "1/3"], "exhaustive"),            # the tpe sampler has nothing to shard
    (["--collect"], "no study"),                   # the run folder holds no journal
    (["--collect", "--storage", "{tmp}/none.journal"], "no study"),
    (["--collect", "--storage", "sqlite:///{tmp}/empty.db"], "no study named"),
    (["--collect", "--workers", "2"], "--collect"),
])
def test_bad_options_one_line(tmp_path, args, needle):
    f = write(tmp_path, trials=8)
    out = tmp_path / "never"
    r = sweep(f, "--out", out, *[a.format(tmp=tmp_path) for a in args])
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], r.output
    assert not out.exists()


def test_collect_from_a_journal_while_nothing_runs(tmp_path):
    f = write(tmp_path, trials=16)
    assert sweep(f, "--out", tmp_path / "run", "--quiet").exit_code == 0
    r = sweep(f, "--storage", tmp_path / "run" / "study.journal", "--collect", "--out", tmp_path / "col", "--quiet")
    assert r.exit_code == 0, r.output
    for name in ("trials.csv", "pareto.csv"):
        assert (tmp_path / "col" / name).read_bytes() == (tmp_path / "run" / name).read_bytes()


# ------------------------------------------------------------------------------------------------ PostgreSQL

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    """A throwaway PostgreSQL cluster on loopback in a temporary folder (initdb, pg_ctl); its URL."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        pytest.skip("PostgreSQL server binaries absent (no /usr/lib/postgresql/*/bin/initdb): apt-get install postgresql")
    bindir = Path(found[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="cimdse-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root: run them as the package's system user
        user = "postgres"
        try:
            pwd.getpwnam(user)
        except KeyError:
            user = "nobody"
        os.chown(root, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
        prefix = ["runuser", "-u", user, "--"]
    data, port = root / "data", _free_port()
    subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "cimdse", "--auth=trust", "-E", "UTF8",
                    "--no-sync"], check=True, capture_output=True, timeout=120)
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off -c max_connections=50"
    subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-o", opts, "-w",
                    "-t", "60", "start"], check=True, capture_output=True, timeout=90)
    try:
        yield f"postgresql+psycopg2://cimdse@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def test_three_processes_share_one_postgresql_study(tmp_path, postgres_url):
    import psycopg2  # noqa: F401 -- the dev extra installs the driver Optuna's RDB storage needs

    # a continuous clock makes two equal param sets practically impossible unless two workers shared a seed
    f = write(tmp_path, "tpe", trials=60, name="pg", batch=5, extra="  clock_ghz: {low: 0.5, high: 2.0}")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-m", "cimdse", "sweep", str(f), "--storage", postgres_url,
                               "--seed", str(11 + k), "--out", str(tmp_path / f"m{k}"), "--quiet"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for k in range(3)]
    deadline = time.time() + 240
    for p in procs:
        out, err = p.communicate(timeout=max(1.0, deadline - time.time()))
        assert p.returncode == 0, err
    study = load(postgres_url, tmp_path, "pg")
    numbers, params, values, feas = study_summary(study)
    assert len(numbers) == 60                                  # exactly the budget, not 3 x 60
    assert len(set(numbers)) == 60 and len(set(params)) == 60  # no trial counted twice, no repeated sample
    all_numbers = [t.number for t in study.get_trials(deepcopy=False)]
    assert sorted(all_numbers) == list(range(len(all_numbers)))
    # every process ran trials (each saw the study full only at its end)
    for k in range(3):
        assert len(pd.read_csv(tmp_path / f"m{k}" / "trials.csv")) == 60
    r = sweep(f, "--storage", postgres_url, "--collect", "--out", tmp_path / "collected", "--quiet")
    assert r.exit_code == 0, r.output
    df = pd.read_csv(tmp_path / "collected" / "trials.csv")
    assert sorted(df["trial"]) == sorted(numbers)
    front = front_trials(pd.read_csv(tmp_path / "collected" / "pareto.csv"))
    assert front == brute_front(numbers, values, feas) == csv_front(df)
    assert (tmp_path / "collected" / "pareto.png").stat().st_size > 1000
    # a study name the server does not hold: one line, exit 2
    other = write(tmp_path, "tpe", trials=5, name="nosuch")
    r = sweep(other, "--storage", postgres_url, "--collect", "--out", tmp_path / "x")
    assert r.exit_code == 2 and "no study named 'nosuch'" in r.output and not (tmp_path / "x").exists()
