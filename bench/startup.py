"""How long `guiapp IMAGE` takes to put its window on screen and to enable Start.

    python bench/startup.py [--runs 5] [--image resources/samples/chelsea_cat.jpg]

Starts the app as a user would (`python -m guiapp IMAGE`, fresh settings), under an X
server: $DISPLAY if set, else a private Xvfb it starts and stops. Two clocks, both from
the moment the process is launched:

- on screen: polled from outside, every 20 ms, with `xdotool search --onlyvisible` (the
  window is mapped and viewable: what a user sees);
- Start enabled: the app's own trace (GUIAPP_STARTUP_TRACE=1 prints each start-up
  milestone with its wall-clock time; "start-enabled" is printed when Start becomes
  clickable with the model and the image ready). The other milestones are printed too,
  to show where the seconds go. A screenshot at that moment is kept (--shots DIR).

Prints one line per run and the medians. Needs xdotool (and Xvfb without a display).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MILESTONES = ("window-shown", "engine-imported", "studio-built", "model-ready", "image-ready", "start-enabled")


def start_xvfb() -> tuple[subprocess.Popen, str]:
    for n in range(90, 120):
        if not Path(f"/tmp/.X11-unix/X{n}").exists():
            proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "1920x1080x24"], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            for _ in range(100):
                if Path(f"/tmp/.X11-unix/X{n}").exists():
                    return proc, f":{n}"
                time.sleep(0.05)
            proc.terminate()
    raise SystemExit("could not start Xvfb")


def visible(env: dict[str, str], pid: int) -> bool:
    found = subprocess.run(["xdotool", "search", "--onlyvisible", "--pid", str(pid), "--name", "guiapp"],
                           env=env, capture_output=True, text=True)
    return bool(found.stdout.strip())


def one_run(image: str, env: dict[str, str], shot: Path | None, timeout: float) -> dict[str, float]:
    config = tempfile.mkdtemp(prefix="guiapp-startup-")
    # A returning user's settings: a remembered target (goldfish), nothing else. Without a
    # target Start stays disabled by design (it says to type one).
    (Path(config) / "guiapp").mkdir()
    (Path(config) / "guiapp" / "guiapp.conf").write_text("[General]\ntarget=1\n")
    run_env = {**env, "GUIAPP_STARTUP_TRACE": "1", "XDG_CONFIG_HOME": config}
    launched = time.time()
    proc = subprocess.Popen([sys.executable, "-m", "guiapp", image], cwd=ROOT, env=run_env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    os.set_blocking(proc.stderr.fileno(), False)
    times: dict[str, float] = {}
    buffered = ""
    try:
        while time.time() - launched < timeout:
            if "on-screen" not in times and visible(run_env, proc.pid):
                times["on-screen"] = time.time() - launched
            try:
                buffered += os.read(proc.stderr.fileno(), 65536).decode(errors="replace")
            except BlockingIOError:
                pass
            for line in buffered.splitlines():
                parts = line.split()
                if len(parts) == 3 and parts[0] == "guiapp-startup" and parts[1] not in times:
                    times[parts[1]] = float(parts[2]) - launched
            if "start-enabled" in times and "on-screen" in times:
                break
            if proc.poll() is not None:
                raise SystemExit(f"guiapp exited with {proc.returncode}:\n{buffered}")
            time.sleep(0.02)
        if shot is not None:
            time.sleep(0.3)  # let the last repaint reach the screen
            subprocess.run(["import", "-window", "root", str(shot)], env=run_env, check=False)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(config, ignore_errors=True)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--image", default="resources/samples/chelsea_cat.jpg")
    parser.add_argument("--shots", type=Path, default=None, help="folder for a screenshot per run at Start enabled")
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()
    xvfb = None
    env = dict(os.environ)
    if not env.get("DISPLAY"):
        xvfb, env["DISPLAY"] = start_xvfb()
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if args.shots:
        args.shots.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        print(f"guiapp {args.image} on {env['DISPLAY']}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; "
              "seconds after launch:")
        print(f"{'run':>3}  {'on-screen':>9}  " + "  ".join(f"{m:>15}" for m in MILESTONES))
        for i in range(1, args.runs + 1):
            shot = args.shots / f"startup_{i}.png" if args.shots else None
            t = one_run(args.image, env, shot, args.timeout)
            rows.append(t)
            print(f"{i:>3}  {t.get('on-screen', float('nan')):>9.2f}  "
                  + "  ".join(f"{t.get(m, float('nan')):>15.2f}" for m in MILESTONES), flush=True)
    finally:
        if xvfb is not None:
            xvfb.terminate()
    for key, bar in (("on-screen", 2.0), ("start-enabled", 10.0)):
        values = [r[key] for r in rows if key in r]
        if values:
            print(f"median {key}: {statistics.median(values):.2f} s (max {max(values):.2f}, bar {bar:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
