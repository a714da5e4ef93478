"""How long `cimdse report` takes for a run folder, and how long the page takes to open in headless Chromium.

Usage: python benchmarks/bench_report.py [RUN_DIR ...] [--chromium PATH] [--repeat 3]
Without RUN_DIR it runs benchmarks/exhaustive-1m.yaml (1 M designs, --no-plots) into a temporary folder first.

The page is opened in a 1400 x 900 window through Chromium's DevTools protocol on a pipe (no extra package): the
clock starts when the navigation is sent and stops when the page marks its first screen drawn and painted (header,
Pareto scatter, the selected design's breakdown, history, importances: <body data-first-view>); then the page is
scrolled to the parallel coordinates, which are drawn when they come near the view, and the time until every
figure is drawn (#report-status data-done) is measured from the scroll. Real time, not the virtual time of
--virtual-time-budget. Headless Chromium draws WebGL (the scatter above 1,500 points, the parallel coordinates) in
software (SwiftShader), so a browser with a GPU is faster.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CIMDSE = [sys.executable, "-m", "cimdse"]
PROBE = ("(function(){var s=document.getElementById('report-status');"
         "return [document.body.dataset.firstView||'', s&&s.dataset.done?s.textContent:''];})()")


class DevTools:
    """Headless Chromium driven over --remote-debugging-pipe (fd 3: commands in, fd 4: replies out)."""

    def __init__(self, exe: str, profile: Path) -> None:
        cmd_r, self._cmd_w = os.pipe()
        self._out_r, out_w = os.pipe()

        def fds() -> None:  # in the child: the pipe ends where Chromium expects them, kept across exec
            a, b = os.dup(cmd_r), os.dup(out_w)   # copies first: cmd_r or out_w may itself be fd 3 or 4
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [exe, "--headless", "--disable-gpu", "--no-sandbox", "--remote-debugging-pipe", f"--user-data-dir={profile}",
             "--window-size=1400,900", "--disable-background-networking", "--no-first-run", "about:blank"],
            preexec_fn=fds, close_fds=False,  # (close_fds would close fds 3 and 4 after preexec_fn)
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(cmd_r)
        os.close(out_w)
        self._buf, self._id = b"", 0

    def call(self, method: str, session: str | None = None, **params) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params, **({"sessionId": session} if session else {})}
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        while True:
            while b"\0" not in self._buf:
                chunk = os.read(self._out_r, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the DevTools pipe")
                self._buf += chunk
            raw, self._buf = self._buf.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (RuntimeError, OSError):
            pass
        self.proc.wait(timeout=30)
        os.close(self._cmd_w)
        os.close(self._out_r)


def open_times(exe: str, page: Path, timeout_s: float = 120.0) -> dict:
    """Seconds from navigation to the first screen and to every figure drawn, and what the page measured."""
    with tempfile.TemporaryDirectory() as profile:
        dt = DevTools(exe, Path(profile))
        try:
            target = dt.call("Target.createTarget", url="about:blank")["targetId"]
            session = dt.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            t0 = time.perf_counter()
            dt.call("Page.navigate", session, url=page.resolve().as_uri())
            first = scrolled = None
            while time.perf_counter() - t0 < timeout_s:
                value = dt.call("Runtime.evaluate", session, expression=PROBE, returnByValue=True)["result"]
                fv, done = value.get("value") or ["", ""]
                if fv and first is None:  # first screen drawn: now scroll to the parallel coordinates
                    first = time.perf_counter() - t0
                    dt.call("Runtime.evaluate", session, expression="document.getElementById('parallel')"
                            ".scrollIntoView()")
                    scrolled = time.perf_counter()
                if done:
                    status = json.loads(done)
                    return {"first_screen_s": first, "parcoords_s": time.perf_counter() - scrolled,
                            "page_first_screen_ms": int(fv), "errors": status["errors"],
                            "times_ms": status.get("times_ms")}
                time.sleep(0.02)
            raise RuntimeError(f"{page} did not finish drawing in {timeout_s} s")
        finally:
            dt.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="*", type=Path)
    ap.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser"))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if not args.chromium:
        sys.exit("no Chromium found (apt-get install chromium)")
    tmp = None
    runs = list(args.runs)
    if not runs:
        tmp = tempfile.TemporaryDirectory()
        out = Path(tmp.name) / "exhaustive-1m"
        subprocess.run([*CIMDSE, "sweep", str(HERE / "exhaustive-1m.yaml"), "--out", str(out), "--quiet", "--no-plots"],
                       check=True)
        runs = [out]
    for run in runs:
        t = time.perf_counter()
        subprocess.run([*CIMDSE, "report", str(run)], check=True, capture_output=True)
        made = time.perf_counter() - t
        best = min((open_times(args.chromium, run / "report.html") for _ in range(args.repeat)),
                   key=lambda r: r["first_screen_s"])
        size = (run / "report.html").stat().st_size / 1e6
        print(f"{run}: cimdse report {made:.1f} s, report.html {size:.1f} MB; opens in headless Chromium: first "
              f"screen drawn {best['first_screen_s']:.2f} s after the navigation (in-page "
              f"{best['page_first_screen_ms']} ms), parallel coordinates {best['parcoords_s']:.2f} s after scrolling "
              f"to them (best of {args.repeat}; errors {best['errors'] or 'none'})")
        print(f"  in-page milestones (ms since navigation start): {best['times_ms']}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
