"""Peak memory of one attack versus image size, per mode; fits the per-pixel model that
guiapp.core.memory uses to refuse attacks that would not fit.

    python bench/attack_memory.py --sizes 1,2,4,8,16 --modes default,robust
    python bench/attack_memory.py --sizes 1,4 --modes transfer --steps 10

Each (size, mode) runs in its own subprocess: the chelsea_cat sample resized to SIZE
megapixels (4:3) is saved as PNG, then `attack_file` runs at the mode's defaults (capped
at --steps gradient steps, or iterations in transfer mode, whose surrogates are loaded
before the peak counter is reset) and saves + re-reads its PNG, as `guiapp-cli attack` does. The
child resets its peak-RSS counter (/proc/self/clear_refs) after loading the model, so
"extra" is what the attack itself adds: peak RSS (VmHWM) minus resident memory before it.
Prints one line per run and a least-squares fit extra = a + b * pixels per mode.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(megapixels: float, mode: str, steps: int) -> dict:
    import torch
    from PIL import Image

    from guiapp.core import attack_file, load_model, make_config
    from guiapp.core.attacks import strategy_of

    torch.set_num_threads(2)
    model = load_model("efficientnet-lite0", "cpu")
    budget = {"iterations": steps} if mode == "transfer" else {"max_steps": steps}
    config = make_config(mode, **budget)
    # The models the mode crafts on, loaded now (the surrogates in transfer mode): the model
    # cache keeps them for attack_file, so their loading is not in the peak.
    strategy_of(config).load_crafters(config, model, "cpu", None)
    w = int(round((megapixels * 1e6 * 4 / 3) ** 0.5))
    h = int(round(w * 3 / 4))
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.png"
        with Image.open(ROOT / "resources" / "samples" / "chelsea_cat.jpg") as img:
            img.convert("RGB").resize((w, h), Image.Resampling.BICUBIC).save(src, compress_level=1)
        del img
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        base = _status_kib("VmRSS")
        start = time.perf_counter()
        report = attack_file(src, "goldfish", Path(tmp) / "out.png", model=model, config=config, centroids=None)
        seconds = time.perf_counter() - start
        peak = _status_kib("VmHWM")
    return {"mp": w * h / 1e6, "width": w, "height": h, "mode": mode, "base_mib": base / 1024,
            "peak_mib": peak / 1024, "extra_mib": (peak - base) / 1024, "seconds": seconds,
            "steps": report.steps, "success": report.success}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1,2,4,8,16", help="megapixels, comma list")
    ap.add_argument("--modes", default="default,robust")
    ap.add_argument("--steps", type=int, default=30, help="cap on gradient steps per attack")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args()
    if args.child:
        mp, mode = args.child.split(":")
        print(json.dumps(child(float(mp), mode, args.steps)))
        return

    import platform

    print(f"machine: {platform.machine()}, {__import__('os').cpu_count()} CPUs, torch threads 2, CPU only")
    rows = []
    for mode in args.modes.split(","):
        for mp in (float(s) for s in args.sizes.split(",")):
            out = subprocess.run([sys.executable, __file__, "--child", f"{mp}:{mode}", "--steps", str(args.steps)],
                                 capture_output=True, text=True, check=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(f"{mode:8s} {row['mp']:6.2f} MP ({row['width']}x{row['height']}): peak {row['peak_mib']:7.0f} MiB, "
                  f"attack adds {row['extra_mib']:7.0f} MiB "
                  f"= {row['extra_mib'] * 2**20 / (row['mp'] * 1e6):5.0f} B/px; "
                  f"{row['steps']} steps, {row['seconds']:.1f} s, success {row['success']}", flush=True)
    for mode in args.modes.split(","):
        sel = [r for r in rows if r["mode"] == mode]
        if len(sel) < 2:
            continue
        px = np.array([r["mp"] * 1e6 for r in sel])
        extra = np.array([r["extra_mib"] * 2**20 for r in sel])
        b, a = np.polyfit(px, extra, 1)
        worst = max(e / p for e, p in zip(extra, px, strict=True))
        print(f"fit {mode}: extra = {a / 2**20:.0f} MiB + {b:.0f} B/px (largest observed {worst:.0f} B/px); "
              f"62 MP -> {(a + b * 62e6) / 2**30:.1f} GiB (extrapolated)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
