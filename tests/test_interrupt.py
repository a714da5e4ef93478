"""Interrupted sweeps: Ctrl-C stops after the batch and writes what is done; SIGKILL at any point leaves the study
consistent; rerunning the printed command completes exactly N trials. Plus the progress line on a terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from cimdse.cli import ProgressLine, format_progress, main
from cimdse.search.progress import Progress

ROOT = Path(__file__).parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
SWEEP = """
name: {name}
workload: {{model: gpt2, batch: 1, prompt_tokens: 32, generate_tokens: 8}}
space:
  device: [sram, rram, fefet]
  rows: [64, 128, 256]
  cols: [64, 128, 256]
  adc_bits: {{low: 3, high: 10}}
  tiles: {{low: 256, high: 8192, log: true}}
fixed: {{bits_per_cell: 1, chips: 1, rows_active: 32}}
objectives: {{energy_per_token_uj: minimize, sqnr_db: maximize}}
constraints: ["weights_fit == 1"]
search: {{sampler: {sampler}, trials: {trials}, seed: 11, batch_size: {batch}}}
"""


def write(tmp_path: Path, name: str, sampler: str = "random", trials: int = 150, batch: int = 10) -> Path:
    f = tmp_path / f"{name}.yaml"
    f.write_text(SWEEP.format(name=name, sampler=sampler, trials=trials, batch=batch))
    return f


def start(args: list[str], cwd: Path, **kw) -> subprocess.Popen:
    """A sweep in its own session (as a terminal's foreground job would be) with Ctrl-C at its default."""
    return subprocess.Popen([sys.executable, "-m", "cimdse", *args], cwd=cwd, env=ENV, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **kw)


def wait_for(cond, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while not cond():
        assert proc.poll() is None, "the sweep ended before the kill point"
        assert time.time() < deadline, "kill point never reached"
        time.sleep(0.005)


def complete_trials(journal: Path) -> list[int]:
    """Numbers of the COMPLETE trials in the journal, read with Optuna itself."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(journal)))
    (summary,) = optuna.get_all_study_summaries(storage)
    study = optuna.load_study(study_name=summary.study_name, storage=storage)
    return [t.number for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))]


def check_consistent(out: Path, n: int | None) -> pd.DataFrame:
    """trials.csv, pareto.csv and run.yaml agree with each other (and hold n trials when given)."""
    df = pd.read_csv(out / "trials.csv")
    front = pd.read_csv(out / "pareto.csv")
    run = yaml.safe_load((out / "run.yaml").read_text())
    assert df["trial"].is_unique
    assert run["completed_trials"] == len(df) and run["front_size"] == len(front)
    assert set(front["trial"]) <= set(df.loc[df["feasible"], "trial"])
    if n is not None:
        assert len(df) == n and run["status"] == "complete"
        assert sorted(complete_trials(out / "study.journal")) == sorted(df["trial"])
    assert not list(out.glob(".*tmp*")), list(out.glob(".*tmp*"))
    assert (out / "pareto.png").stat().st_size > 1000
    return df


def test_ctrl_c_stops_after_the_batch_and_prints_the_resume_command(tmp_path):
    f = write(tmp_path, "ctrlc", trials=60)
    out = tmp_path / "run"
    proc = start(["sweep", f.name, "--out", "run", "--quiet"], tmp_path, stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE, text=True)
    journal = out / "study.journal"
    wait_for(lambda: journal.exists() and journal.stat().st_size > 4000, proc)
    os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    df = check_consistent(out, None)
    run = yaml.safe_load((out / "run.yaml").read_text())
    assert run["status"] == "interrupted" and 0 < len(df) < 60 and len(df) % 10 == 0  # whole batches of 10
    assert f"interrupted after {len(df)} of 60 trials" in stderr
    command = stderr.split("resume with: ", 1)[1].strip()
    assert command == f"cimdse sweep {f.name} --out run --quiet"
    argv = shlex.split(command)
    done = subprocess.run([sys.executable, "-m", "cimdse", *argv[1:]], cwd=tmp_path, env=ENV, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    resumed = check_consistent(out, 60)
    # a run stopped at a batch boundary and resumed equals the uninterrupted run, byte for byte
    assert CliRunner().invoke(main, ["sweep", str(f), "--out", str(tmp_path / "whole"), "--quiet"]).exit_code == 0
    for name in ("trials.csv", "pareto.csv"):
        assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    assert len(resumed) == 60


# Kill points, by what the run has reached: the study just created (first batch in flight), a few batches in,
# further in, and while the outputs are being written (trials.csv is there, the plots are not yet).
KILL_POINTS = {
    "first batch": lambda out: (out / "study.journal").exists() and (out / "study.journal").stat().st_size > 0,
    "few batches": lambda out: (out / "study.journal").exists() and (out / "study.journal").stat().st_size > 50_000,
    "mid run": lambda out: (out / "study.journal").exists() and (out / "study.journal").stat().st_size > 1_500_000,
    "late run": lambda out: (out / "study.journal").exists() and (out / "study.journal").stat().st_size > 2_700_000,
    "writing outputs": lambda out: (out / "trials.csv").exists(),
}


def test_sigkill_at_each_point_then_rerun_completes_exactly_n(tmp_path):
    """One sweep per kill point, all at once, then all reruns at once."""
    # about 1 kB of journal per trial (one line each): the kill points fall at 0, ~50, ~1500 and ~2700 trials
    # of 3000, which take a few seconds (the random sampler and the cost model are fast)
    n = 3000
    f = write(tmp_path, "killme", trials=n)
    args = {p: ["sweep", f.name, "--out", f"run{i}", "--quiet"] for i, p in enumerate(KILL_POINTS)}
    procs = {p: start(a, tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for p, a in args.items()}
    alive = dict(procs)
    deadline = time.time() + 120
    while alive:
        for p, proc in list(alive.items()):
            if KILL_POINTS[p](tmp_path / args[p][3]):
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                del alive[p]
            else:
                assert proc.poll() is None, f"the sweep ended before the kill point '{p}'"
        assert time.time() < deadline, f"kill points never reached: {list(alive)}"
        time.sleep(0.005)
    # no lock outlives its process: each journal's flock can be taken at once (the kernel released the dead holders'),
    # so the reruns below cannot wait on a stale lock
    locks = [tmp_path / a[3] / "study.journal.flock" for a in args.values()]
    assert all(lock.exists() for lock in locks)      # every kill point is after the study's first journal write
    for lock in locks:
        with open(lock, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)   # raises BlockingIOError if still held
            fcntl.flock(fh, fcntl.LOCK_UN)
    reruns = {p: subprocess.Popen([sys.executable, "-m", "cimdse", *a], cwd=tmp_path, env=ENV,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for p, a in args.items()}
    for p, proc in reruns.items():
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, (p, err)
        check_consistent(tmp_path / args[p][3], n)


@pytest.mark.parametrize("sampler", ["tpe", "nsga2", "qmc", "grid"])  # random: the Ctrl-C test above
def test_stopped_and_resumed_in_process_equals_uninterrupted(tmp_path, sampler):
    """The model-based and sequence samplers: stopped with the Ctrl-C flag after the first batch, then resumed, the run asks
    exactly what the uninterrupted run asked (same parameters, same trial numbers)."""
    from cimdse.config import load_sweep
    from cimdse.search.loop import run_optuna
    from cimdse.search.progress import StopFlag

    f = write(tmp_path, f"det-{sampler}", sampler, trials=16, batch=8)
    if sampler == "grid":  # grid needs a discrete space
        f.write_text(f.read_text().replace("{low: 256, high: 8192, log: true}", "[256, 1024, 4096]"))
    sw = load_sweep(f)
    res = run_optuna(sw, tmp_path / "whole")
    whole, stopped = res.params, res.interrupted
    assert not stopped and res.status == "complete"
    flag = StopFlag()

    def on_batch(pr):
        flag.requested = True

    res = run_optuna(sw, tmp_path / "part", on_batch=on_batch, stop=flag)
    part, stopped = res.params, res.interrupted
    assert stopped and len(part) == 8
    res = run_optuna(sw, tmp_path / "part")
    rest, numbers, stopped = res.params, res.numbers, res.interrupted
    assert not stopped and numbers == list(range(16))
    assert rest == whole


@pytest.fixture(autouse=True)
def _mkdirs(tmp_path):
    for d in ("whole", "part"):
        (tmp_path / d).mkdir()


def test_progress_line_format():
    # 120 of 480 done at 40 trials/s: 25 %, 5 of 20 bar cells, (480 - 120) / 40 = 9 s left
    line = format_progress(Progress(done=120, total=480, rate=40.0, feasible=77, front=9))
    assert line == "[#####...............] 120/480 trials  25%  40 trials/s  feasible 77  front 9  left 9s"
    slow = format_progress(Progress(done=3, total=3, rate=2.5, feasible=0, front=0), unit="designs")
    assert "[####################] 3/3 designs 100%" in slow and "2.5 designs/s" in slow


def test_progress_line_redraws_in_place_and_ends_with_a_newline():
    import io

    buf = io.StringIO()
    bar = ProgressLine(enabled=True, stream=buf)
    bar.update(Progress(10, 20, 5.0, 3, 1))
    bar.update(Progress(20, 20, 5.0, 6, 2))
    bar.close()
    text = buf.getvalue()
    assert text.count("\r") >= 2 and text.endswith("\n") and text.count("\n") == 1
    assert "20/20 trials" in text.split("\r")[-1]
    quiet = io.StringIO()
    off = ProgressLine(enabled=False, stream=quiet)
    off.update(Progress(1, 2, 1.0))
    off.close()
    assert quiet.getvalue() == ""


def test_no_progress_when_stderr_is_not_a_terminal(tmp_path):
    r = CliRunner().invoke(main, ["sweep", str(write(tmp_path, "pipe", trials=20)), "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    assert r.stderr == "" and "pipe: 20 designs" in r.stdout


def _read_all(fd: int, proc: subprocess.Popen) -> bytes:
    chunks = []
    while True:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the other side closed
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    return b"".join(chunks)


@pytest.mark.parametrize("quiet", [False, True])
def test_progress_on_a_terminal(tmp_path, quiet):
    f = write(tmp_path, "tty", trials=20)
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "cimdse", "sweep", f.name, "--out", "o",
                             *(["--quiet"] if quiet else [])], cwd=tmp_path, env=ENV, stdout=subprocess.PIPE,
                            stderr=slave)
    os.close(slave)
    err = _read_all(master, proc).decode()
    os.close(master)
    proc.wait(timeout=120)
    assert proc.returncode == 0
    if quiet:
        assert err == ""
    else:
        assert "\r[" in err and "20/20 trials 100%" in err and "feasible" in err and "front" in err, err
        assert err.endswith("\n")
    assert np.isfinite(pd.read_csv(tmp_path / "o" / "trials.csv")["energy_per_token_uj"]).all()


def test_every_output_is_written_to_a_temporary_name_and_renamed(tmp_path, monkeypatch):
    import cimdse.results as results
    from cimdse.config import load_sweep
    from cimdse.run import run_sweep

    renamed = []
    real_replace = os.replace

    def spy(src, dst, *a, **k):
        assert Path(src).name.startswith(".") and Path(src).parent == Path(dst).parent, (src, dst)
        renamed.append(Path(dst).name)
        return real_replace(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", spy)
    run_sweep(load_sweep(write(tmp_path, "atomic", trials=8, batch=8)), out=tmp_path / "o")
    # importance.png: drawn in this process (pareto.png and breakdown.png may be drawn by the figure process,
    # run/helper.py, whose renames this spy cannot see; the same save_figure writes them)
    assert {"trials.csv", "pareto.csv", "run.yaml", "importance.png", "report.html"} <= set(renamed)
    # a write that fails half-way leaves the old file whole and no temporary behind
    target = tmp_path / "o" / "trials.csv"
    old = target.read_bytes()

    def broken(self, text, *a, **k):
        with open(self, "w") as fh:
            fh.write(text[:10])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", broken)
    with pytest.raises(OSError):
        results.atomic_write(target, "trial\n" * 1000)
    assert target.read_bytes() == old
