"""The thread policy under load: default vs 1 and 2 torch threads, quiet and with busy neighbours.

    python bench/busy.py --runs 3 --loads 0,1,2 --frontends cli,window,batch

For each number of competing busy processes (pure-Python loops, one core each, as a
browser or an IDE would take), each front-end runs the same default attack on the same
photo (chelsea_cat, target goldfish) with the default thread policy and with an explicit
thread count, in turn (A B A B...), and the medians are printed:

- cli: the whole `guiapp-cli attack` process (python -m guiapp.cli), start to exit;
- window: the attack inside the desktop app, from Start to the finished result, in an
  offscreen window (the worker thread the app uses);
- batch: the whole `guiapp-cli batch` process on a folder of 3 copies, --workers 1.

Bars (issue 21): default / 1-thread <= 1.1x quiet and with two busy processes, and the
default's busy / quiet ratio <= 1.8x, for each front-end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGE = ROOT / "resources" / "samples" / "chelsea_cat.jpg"
PY = sys.executable

WINDOW_SCRIPT = r"""
import os, sys, time
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, sys.argv[1])
from PySide6.QtCore import QEventLoop, QSettings, QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
from guiapp.gui.main_window import MainWindow
settings = QSettings(sys.argv[3], QSettings.IniFormat)
if sys.argv[4] != "default":
    settings.setValue("run/threads", int(sys.argv[4]))
else:  # the settings file is shared by the runs: forget the last run's explicit count
    settings.remove("run/threads")
win = MainWindow(settings=settings, device="cpu")
# A timing run keeps nothing: the unsaved-result question (a modal box) would wait forever offscreen.
import guiapp.gui.dialogs as dialogs
dialogs.ask_unsaved = lambda *a, **k: "discard"

def wait(signal, timeout_s=600):
    loop = QEventLoop()
    signal.connect(loop.quit)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()

while win.model is None:
    app.processEvents(); time.sleep(0.01)
win.open_image(sys.argv[2]); wait(win.image_ready)
win.target_combo.set_target(1)
start = time.perf_counter()
win.start_attack(); wait(win.attack_finished)
print(f"SECONDS {time.perf_counter() - start:.3f}")
win.close()
"""


def busy_processes(n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([PY, "-c", "while True: pass"]) for _ in range(n)]


def run_cli(threads: str, work: Path) -> float:
    extra = [] if threads == "default" else ["--threads", threads]
    t = time.perf_counter()
    subprocess.run([PY, "-m", "guiapp.cli", "attack", str(IMAGE), "-t", "goldfish", "-o", str(work / "o.png"),
                    "-q", "--device", "cpu", *extra], check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - t


def run_batch(threads: str, work: Path) -> float:
    folder = work / "in"
    if not folder.exists():
        folder.mkdir()
        for i in range(3):
            shutil.copy(IMAGE, folder / f"cat{i}.jpg")
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    extra = [] if threads == "default" else ["--threads", threads]
    t = time.perf_counter()
    subprocess.run([PY, "-m", "guiapp.cli", "batch", str(folder), "--out", str(out), "-t", "goldfish", "--workers",
                    "1", "--device", "cpu", *extra], check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - t


def run_window(threads: str, work: Path) -> float:
    proc = subprocess.run([PY, "-c", WINDOW_SCRIPT, str(ROOT), str(IMAGE), str(work / "settings.ini"), threads],
                          check=True, capture_output=True, text=True, cwd=ROOT)
    line = [x for x in proc.stdout.splitlines() if x.startswith("SECONDS ")][-1]
    return float(line.split()[1])


FRONTENDS = {"cli": run_cli, "window": run_window, "batch": run_batch}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="runs of each setting (alternating)")
    ap.add_argument("--loads", default="0,2", help="numbers of competing busy processes")
    ap.add_argument("--frontends", default="cli,window,batch")
    ap.add_argument("--threads", default="default,1,2", help="thread settings to compare ('default': the policy)")
    args = ap.parse_args()
    settings = args.threads.split(",")
    env_note = os.environ.get("GUIAPP_THREADS")
    print(f"# {os.cpu_count()} CPUs; GUIAPP_THREADS={env_note!r}; {args.runs} runs per setting, alternating")
    results: dict[tuple[str, int, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for load in [int(x) for x in args.loads.split(",")]:
            hogs = busy_processes(load)
            try:
                time.sleep(1.0)
                for frontend in args.frontends.split(","):
                    for _ in range(args.runs):
                        for threads in settings:
                            seconds = FRONTENDS[frontend](threads, work)
                            results.setdefault((frontend, load, threads), []).append(seconds)
                            print(f"{frontend:6s} load {load} threads {threads:7s} {seconds:7.2f} s", flush=True)
            finally:
                for h in hogs:
                    h.kill()
                    h.wait()
    print("\n| front-end | busy processes | " + " | ".join(f"threads {s}" for s in settings)
          + " | default / 1 thread | default busy / quiet |")
    print("|---|---:|" + "---:|" * len(settings) + "---:|---:|")
    loads = sorted({k[1] for k in results})
    for frontend in args.frontends.split(","):
        quiet = statistics.median(results[(frontend, loads[0], "default")]) if "default" in settings else None
        for load in loads:
            med = {s: statistics.median(results[(frontend, load, s)]) for s in settings}
            ratio = med["default"] / med["1"] if "default" in med and "1" in med else float("nan")
            busy = med["default"] / quiet if quiet else float("nan")
            print(f"| {frontend} | {load} | " + " | ".join(f"{med[s]:.2f} s" for s in settings)
                  + f" | {ratio:.2f} | {busy:.2f} |")


if __name__ == "__main__":
    main()
