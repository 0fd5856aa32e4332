"""Transfer speed, paired: the same pairs crafted with two settings in turn, timed and judged.

    python bench/transfer_speed.py --half held --n 100 \
        --a precision=float32 --b precision=auto --threads 1

Each pair is crafted with A and B one after the other (the order alternates pair by pair,
so a load that comes and goes falls on both), with one torch thread by default (guiapp's
thread policy). Per attack: wall seconds and the process's CPU seconds. Each result is
judged as in bench/transfer.py (Lite2 on its centre crop and on the whole photo squashed,
after a PNG round trip). Prints per pair, then the paired summary: median time ratio B/A
(CPU and wall), success of each and pairs won/lost, the quality figures. Rows go to
OUT/speed-<A>-vs-<B>.jsonl (resumable).

`--a-tree CHECKOUT` runs A with the guiapp of another checkout (e.g. a `git worktree` of an
older commit) in a worker process (bench/transfer_worker.py), its default plus `--a`, so
the code of then and of now are timed pair by pair:

    git worktree add /tmp/base 12eb60d
    python bench/transfer_speed.py --half held --n 60 --a-tree /tmp/base --a --b
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
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from transfer import JUDGE, judge  # noqa: E402

from guiapp.core import AttackRun, load_model, make_config, plan_attack  # noqa: E402
from guiapp.core.imageio import load_image  # noqa: E402

from common import DEFAULT_IMAGES, machine, pct, sample_images, sign_test  # noqa: E402


def parse_overrides(items: list[str]) -> dict:
    out = {}
    for kv in items:
        key, _, value = kv.partition("=")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value  # a plain string (float32, auto, ...)
    return out


def start_worker(tree: Path, options: dict) -> subprocess.Popen:
    """bench/transfer_worker.py on `tree`'s guiapp, ready (surrogates loaded)."""
    worker = subprocess.Popen([sys.executable, str(Path(__file__).with_name("transfer_worker.py")), "--tree",
                               str(tree), "--options", json.dumps(options)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert worker.stdout is not None
    print("# A worker: " + worker.stdout.readline().strip(), flush=True)
    return worker


def worker_attack(worker: subprocess.Popen, image: Path, target: int) -> tuple[dict, np.ndarray]:
    """One attack in the worker: its timing and the 8-bit result it saved."""
    assert worker.stdin is not None and worker.stdout is not None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "a.png"
        worker.stdin.write(json.dumps({"image": str(image), "target": target, "out": str(out)}) + "\n")
        worker.stdin.flush()
        timing = json.loads(worker.stdout.readline())
        return timing, load_image(out).rgb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--half", choices=("tune", "held"), default=None)
    ap.add_argument("--a", nargs="*", default=["precision=float32"], metavar="KEY=VALUE")
    ap.add_argument("--b", nargs="*", default=["precision=auto"], metavar="KEY=VALUE")
    ap.add_argument("--a-tree", type=Path, default=None, help="run A with the guiapp of this checkout")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("bench/out/transfer"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    if args.half:
        from common import half_pairs

        pairs = half_pairs(args.half, args.n, folder=args.images)
    else:
        pairs = sample_images(args.images, args.n, args.seed)
    names = {"a": " ".join(args.a) or "default", "b": " ".join(args.b) or "default"}
    if args.a_tree:
        commit = subprocess.run(["git", "-C", str(args.a_tree), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        names["a"] = f"tree {commit} {names['a']}"
        worker = start_worker(args.a_tree, parse_overrides(args.a))
        configs = {"b": make_config("transfer", **parse_overrides(args.b))}
    else:
        configs = {k: make_config("transfer", **parse_overrides(getattr(args, k))) for k in ("a", "b")}
    judge_model = load_model(JUDGE, "cpu")
    args.out.mkdir(parents=True, exist_ok=True)
    slug = "-vs-".join(names[k].replace(" ", "_").replace("=", "") for k in ("a", "b"))
    log = args.out / f"speed-{slug}.jsonl"
    done = {json.loads(line)["file"]: json.loads(line) for line in log.read_text().splitlines()} if log.exists() else {}
    print(f"# {machine()}; torch threads {args.threads}; A = {names['a']}; B = {names['b']}; {len(pairs)} pairs",
          flush=True)

    with log.open("a") as fh:
        for index, (path, true, target) in enumerate(pairs):
            if path.name in done:
                continue
            image = load_image(path)
            img = image.rgb
            row: dict = {"file": path.name, "true": true, "target": target}
            for key in ("a", "b") if index % 2 == 0 else ("b", "a"):
                # Planned first (the surrogates loaded, the photo classified): only the loop is
                # timed, as the worker times an older checkout's.
                plan = plan_attack(image, target, config=configs["b" if args.a_tree else key], device="cpu")
                if key == "a" and args.a_tree:
                    timing, adversarial = worker_attack(worker, path, target)
                else:
                    wall, cpu = time.perf_counter(), time.process_time()
                    run = AttackRun(plan)
                    for _ in run.steps():
                        pass
                    timing = {"seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu}
                    adversarial = run.result.adversarial
                row[key] = {**timing, **judge(judge_model, plan.crafters, img, adversarial, target)}
            fh.write(json.dumps(row) + "\n")
            fh.flush()
            done[path.name] = row
            print(f"{len(done)}/{len(pairs)} {path.name[:28]:28s} " + "  ".join(
                f"{k.upper()}: judge {row[k]['judge_success']!s:5} full {row[k]['judge_full_success']!s:5} "
                f"{row[k]['cpu_seconds']:.1f} cpu-s" for k in ("a", "b")), flush=True)

    rows = [done[p.name] for p, _, _ in pairs if p.name in done]
    summary: dict = {"n": len(rows), "a": names["a"], "b": names["b"]}
    for key in ("a", "b"):
        summary[key + "_stats"] = {
            "judge_success": float(np.mean([r[key]["judge_success"] for r in rows])),
            "judge_full_success": float(np.mean([r[key]["judge_full_success"] for r in rows])),
            "surrogate_success": float(np.mean([r[key]["surrogate_success"] for r in rows])),
            "cpu_seconds_median": pct([r[key]["cpu_seconds"] for r in rows], 50),
            "wall_seconds_median": pct([r[key]["seconds"] for r in rows], 50),
            **{f"{m}_median": pct([r[key][m] for r in rows], 50) for m in ("psnr", "ssim", "ciede2000", "haarpsi")},
        }
    for verdict in ("judge_success", "judge_full_success"):
        won = sum(r["b"][verdict] and not r["a"][verdict] for r in rows)
        lost = sum(r["a"][verdict] and not r["b"][verdict] for r in rows)
        summary[f"{verdict}_b_won_lost_p"] = (won, lost, round(sign_test(won, lost), 3))
    summary["cpu_ratio_b_over_a_median"] = pct([r["b"]["cpu_seconds"] / r["a"]["cpu_seconds"] for r in rows], 50)
    summary["wall_ratio_b_over_a_median"] = pct([r["b"]["seconds"] / r["a"]["seconds"] for r in rows], 50)
    print(json.dumps(summary, indent=1), flush=True)


if __name__ == "__main__":
    main()
