"""Is an attack started from the window as fast as the same attack through the CLI?

    python bench/gui_vs_cli.py [--repeats 3]

For each case (same image, target and settings) it alternates `guiapp-cli attack ... --json`
(a subprocess, as a user runs it) and the window (driven in this process: open the image,
set the form, press Start, wait for the result), and compares the attack's own time (the
steps: the CLI report's "seconds", the window's AttackRun.seconds; loading the models and
saving are not in either) and the time from Start to the result on screen. Both use the
thread policy's default (one torch thread). Uses $DISPLAY if set (a real X server, so the
window really paints its live plot and previews), else Qt's offscreen platform.
Prints the medians and the window/CLI ratio (the bar: at most 1.2).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# (name, image, target, CLI flags, form settings): the same attack both ways.
CASES = [
    ("default, 1600x1067 photo", "cat1600", "goldfish", ["--steps", "60"], {"mode": "default", "max_steps": 60}),
    ("transfer, 2 surrogates, 20 iterations", "coffee", "goldfish",
     ["--mode", "transfer", "--iterations", "20"], {"mode": "transfer", "iterations": 20}),
]


def images(folder: Path) -> dict[str, Path]:
    from PIL import Image

    cat = Image.open(ROOT / "resources" / "samples" / "chelsea_cat.jpg")
    big = folder / "chelsea_cat_1600.png"
    cat.resize((1600, round(cat.height * 1600 / cat.width)), Image.LANCZOS).save(big)
    return {"cat1600": big, "coffee": ROOT / "resources" / "samples" / "coffee.jpg"}


def cli_run(image: Path, target: str, flags: list[str], out: Path) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "guiapp.cli", "attack", str(image), "-t", target, "--device", "cpu",
           "-o", str(out), "--json", *flags]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"CLI failed ({done.returncode}):\n{done.stderr}")
    report = json.loads(done.stdout)
    return report["seconds"], wall


class Window:
    def __init__(self, folder: Path) -> None:
        from PySide6.QtCore import QSettings
        from PySide6.QtWidgets import QApplication

        self.app = QApplication.instance() or QApplication([])
        import guiapp.gui.dialogs as dialogs
        from guiapp.gui.main_window import MainWindow

        # A timing run keeps nothing: the unsaved-result question (a modal box) would wait
        # forever offscreen when the next image opens or the window closes.
        dialogs.ask_unsaved = lambda *a, **k: "discard"
        self.win = MainWindow(settings=QSettings(str(folder / "s.ini"), QSettings.IniFormat), device="cpu")
        self.win.resize(1366, 768)
        self.win.show()
        self.wait(lambda: self.win.model is not None)

    def wait(self, condition, timeout: float = 600) -> None:
        end = time.perf_counter() + timeout
        while not condition():
            if time.perf_counter() > end:
                raise SystemExit("the window did not get there in time")
            self.app.processEvents()
            time.sleep(0.005)

    def run(self, image: Path, target: str, settings: dict) -> tuple[float, float]:
        win = self.win
        if win.image is None or win.image.path != image:
            win.open_image(image)
            self.wait(lambda: win.image is not None and win.image.path == image and win.pred_original.top_name())
        win.form.reset_defaults()
        win.form.set_mode(settings["mode"])
        win.form.reset_defaults()
        for name, value in settings.items():
            if name != "mode":
                win.form.field(name).setValue(value)
        win.target_combo.setEditText(target)
        finished = []
        win.attack_finished.connect(finished.append)
        start = time.perf_counter()
        win.start_attack()
        self.wait(lambda: finished)
        wall = time.perf_counter() - start
        win.attack_finished.disconnect(finished.append)
        return win.run.seconds, wall

    def close(self) -> None:
        self.win.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=None,
                        help="every case's step (iteration) budget instead of its own (a quick check)")
    args = parser.parse_args()
    if not os.environ.get("DISPLAY"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    folder = Path(tempfile.mkdtemp(prefix="guiapp-gui-vs-cli-"))
    paths = images(folder)
    window = Window(folder)
    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, display {os.environ.get('DISPLAY') or 'offscreen'}; "
          "attack seconds (steps only) and Start-to-result wall seconds")
    worst = 0.0
    try:
        for name, key, target, flags, settings in CASES:
            if args.steps:
                flags = [str(args.steps) if flags[i - 1] in ("--steps", "--iterations") else f
                         for i, f in enumerate(flags)]
                settings = {k: args.steps if k in ("max_steps", "iterations") else v for k, v in settings.items()}
                name = f"{name.split(',')[0]}, {args.steps} steps"
            cli, gui, cli_wall, gui_wall = [], [], [], []
            for i in range(args.repeats):
                c, cw = cli_run(paths[key], target, flags, folder / f"cli_{i}.png")
                g, gw = window.run(paths[key], target, settings)
                cli.append(c)
                gui.append(g)
                cli_wall.append(cw)
                gui_wall.append(gw)
                print(f"  {name} #{i + 1}: CLI {c:.2f} s, window {g:.2f} s (window Start to result {gw:.2f} s; "
                      f"CLI process {cw:.2f} s)", flush=True)
            ratio = statistics.median(gui) / statistics.median(cli)
            worst = max(worst, ratio)
            print(f"{name}: median CLI {statistics.median(cli):.2f} s, window {statistics.median(gui):.2f} s, "
                  f"window/CLI {ratio:.2f}")
    finally:
        window.close()
    print(f"worst window/CLI ratio: {worst:.2f} (bar 1.20)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
