"""Batch at scale: bookkeeping overhead, real throughput, and a SIGKILL mid-run.

    python bench/batch_scale.py overhead [--sizes 100,5000,50000] [--old-sizes 100,1000,5000]
    python bench/batch_scale.py throughput [--n 24] [--side 224]
    python bench/batch_scale.py threads [--n 8] [--side 224]
    python bench/batch_scale.py kill [--n 200] [--side 64]

overhead: the attack is replaced by a no-op stub *here only*, so what is timed is what
the runner does around it (planning, journal commit, progress, reports). The old runner
(the last batch.py before the journal, loaded from git into a temp module) is timed the
same way for comparison.
throughput: real attacks on copies of ../shared/imagenet-samples resized to SIDExSIDE,
`guiapp-cli batch` with --workers 1, --workers 2 and --ray (a local Ray with 2 CPUs);
checks that the three output folders are byte-identical.
threads: the same attacks with 1 and 2 torch threads (why a batch fixes 1 per attack).
kill: a real run of N small images with 2 workers, SIGKILLed once about half are
committed; then batch-report and resume, checking that no committed image is redone,
none is lost and the report matches the PNGs on disk.

Everything is written under a temp folder (never into the repository). The machine is
shared: the load average is printed with every number.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import DEFAULT_IMAGES  # noqa: E402

JOURNAL = ".guiapp-journal.sqlite"


def load() -> str:
    return "load %.2f/%.2f/%.2f" % os.getloadavg()


def stub_load_for_attack(path, config=None, model=None, *_, **__):
    """No image is decoded (the inputs are empty files)."""
    return None


def stub_plan_attack(image, target, **_):
    """No model, no image: the plan of a fixed target."""
    return SimpleNamespace(target=target if isinstance(target, int) else 1, strategy=None, config=None)


def stub_prepare_run(plan, output, **_):
    """No output check, and a run with no steps."""
    return SimpleNamespace(plan=plan, output=Path(output), run=SimpleNamespace(steps=lambda: iter(()), seconds=0.0))


def stub_finish_run(prepared, **_):
    return stub_execute(prepared.plan, prepared.output)


def stub_attack_file(image, target, output=None, **_):
    """The same stub for the old runner, which called attack_file."""
    return stub_execute(SimpleNamespace(target=int(target)), output)


def stub_execute(plan, output, **_):
    """No attack, no file: returns at once what a successful attack reports."""
    t = plan.target
    return SimpleNamespace(source=0, source_name="tench", target=t, target_name="goldfish", success=True,
                           final=t, final_name="goldfish", target_conf=0.9, linf=2.0, psnr=50.0, ssim=0.99,
                           ciede2000=0.5, haarpsi=0.99, flat_swirl=0.1, steps=9, seconds=0.0, cancelled=False,
                           queries=None, answers=[])


# What the batch task calls of the pipeline, replaced by the stubs above. A name the task no
# longer has fails here: the stubs must follow the task, or the attack would really run.
STUBS = {"load_for_attack": stub_load_for_attack, "plan_attack": stub_plan_attack,
         "prepare_run": stub_prepare_run, "finish_run": stub_finish_run}


def stub_out_attacks(task_module) -> None:
    missing = [name for name in STUBS if not hasattr(task_module, name)]
    if missing:
        raise SystemExit(f"{task_module.__name__} no longer calls {', '.join(missing)}: update bench/batch_scale.py's "
                         "stubs to what it calls now")
    for name, stub in STUBS.items():
        setattr(task_module, name, stub)


def old_runner_module():
    """The runner before the journal (rewrote both reports after every image), from git."""
    rev = subprocess.run(["git", "log", "-n1", "--format=%H", "--grep=Batch at scale", "--", "guiapp/core/batch.py"],
                         capture_output=True, text=True, cwd=ROOT).stdout.strip()
    if not rev:
        raise SystemExit("the old runner's commit ('Batch at scale') is not in this clone's history (a shallow "
                         "clone?): fetch the history, or pass --old-sizes ''")
    source = subprocess.run(["git", "show", f"{rev}^:guiapp/core/batch.py"], capture_output=True, text=True,
                            cwd=ROOT, check=True).stdout
    # Its imports, pointed at where those names live today (the public guiapp.core for the
    # two modules that are gone).
    source = source.replace("from .api import", "from guiapp.core import")
    source = source.replace("from .attack import", "from guiapp.core.attacks import")
    source = re.sub(r"^from \.(\w+)", r"from guiapp.core.\1", source, flags=re.M)
    path = Path(tempfile.mkdtemp()) / "old_batch.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("old_batch", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_batch"] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module, rev[:7]


def make_inputs(folder: Path, n: int) -> None:
    folder.mkdir(parents=True)
    for i in range(n):
        (folder / f"{i:06d}.png").touch()  # never opened: the stub does not read them


def time_run(runner) -> tuple[float, float]:
    """(total seconds, seconds per image between the first and the last image)."""
    start = time.perf_counter()
    first = last = None
    count = 0
    for _ in runner.run():
        last = time.perf_counter()
        first = first or last
        count += 1
    total = time.perf_counter() - start
    steady = (last - first) / (count - 1) if count > 1 else float("nan")
    return total, steady


def cmd_overhead(args) -> None:
    import guiapp.core.batch.task as job
    from guiapp.core import load_model
    from guiapp.core.batch import BatchRunner, TargetSpec

    model = load_model("efficientnet-lite0", "cpu")
    stub_out_attacks(job)
    work = Path(tempfile.mkdtemp(prefix="batch_scale_"))
    print(f"overhead per image, attack stubbed out (machine: 2-core x86_64, {load()})")
    print(f"new runner: median of {args.repeat} runs per size")
    print("| runner | images | total s | per image, ms (total/n) | per image, ms (steady) |")
    print("|---|---:|---:|---:|---:|")
    try:
        for n in [int(x) for x in args.sizes.split(",") if x]:
            inp = work / f"in{n}"
            make_inputs(inp, n)
            times = []
            for rep in range(args.repeat):  # the median of a few: the machine is shared
                runner = BatchRunner(inp, work / f"out{n}_{rep}", model, TargetSpec(label="goldfish"), workers=1)
                times.append(time_run(runner))
                assert runner.summary().succeeded == n, runner.summary().line()
            total, steady = (statistics.median(t[i] for t in times) for i in (0, 1))
            print(f"| journal (new) | {n} | {total:.2f} | {total / n * 1e3:.3f} | {steady * 1e3:.3f} |  {load()}",
                  flush=True)
        if args.old_sizes:
            old, rev = old_runner_module()
            old.attack_file = stub_attack_file
            for n in [int(x) for x in args.old_sizes.split(",") if x]:
                inp = work / f"old_in{n}"
                make_inputs(inp, n)
                runner = old.BatchRunner(inp, work / f"old_out{n}", model, old.TargetSpec(label="goldfish"))
                total, steady = time_run(runner)  # once: it is the slow one
                assert runner.summary().succeeded == n
                print(f"| old ({rev}^, rewrites reports per image) | {n} | {total:.2f} | {total / n * 1e3:.3f} "
                      f"| {steady * 1e3:.3f} |  {load()}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def prepare_images(folder: Path, n: int, side: int) -> None:
    from PIL import Image

    files = sorted(p for p in DEFAULT_IMAGES.glob("n*_*.JPEG"))[:: max(1, 1000 // n)][:n]
    folder.mkdir(parents=True)
    for i, f in enumerate(files):
        Image.open(f).convert("RGB").resize((side, side)).save(folder / f"{i:03d}_{f.stem}.png")


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "guiapp.cli", *args]


def run_cli(argv: list[str]) -> tuple[float, str, float]:
    """(wall seconds, the summary line, CPU seconds of the command and its worker processes;
    Ray's actors are not its children and are not counted)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("done ")), proc.stdout + proc.stderr[-2000:])
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {line}")
    return wall, line, cpu


def same_bytes(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in a.glob("*.png"))
    return names == sorted(p.name for p in b.glob("*.png")) and all(
        (a / n).read_bytes() == (b / n).read_bytes() for n in names)


def cmd_throughput(args) -> None:
    work = Path(tempfile.mkdtemp(prefix="batch_thru_"))
    inp = work / "in"
    prepare_images(inp, args.n, args.side)
    print(f"{args.n} images {args.side}x{args.side} from {DEFAULT_IMAGES.name}, --random-targets --seed 0")
    print("| run | images/s (run) | images/s (whole command) | command s | CPU s (command + workers) "
          "| summary | load |")
    print("|---|---:|---:|---:|---:|---|---|")
    outs = {}
    try:
        for name, folder, extra in (("--workers 1", "w1", ["--workers", "1"]),
                                    ("--workers 2", "w2", ["--workers", "2"]),
                                    ("--ray (local, 2 CPUs)", "ray", ["--ray", "--workers", "2"])):
            out = work / folder
            before = load()
            wall, line, cpu = run_cli(cli("batch", str(inp), "--out", str(out), "--random-targets", "--seed", "0",
                                          "--device", "cpu", *extra))
            ips = float(re.search(r"([\d.]+) images/s", line).group(1))
            cpu_text = "n/a (actors)" if "ray" in name else f"{cpu:.1f}"
            print(f"| {name} | {ips:.2f} | {args.n / wall:.2f} | {wall:.1f} | {cpu_text} | {line.split(';')[0]} | "
                  f"before: {before}, after: {load()} |", flush=True)
            outs[name] = out
        first = outs["--workers 1"]
        for name, out in outs.items():
            print(f"{name}: PNGs byte-identical to --workers 1: {same_bytes(first, out)}")
        if args.old:
            print(old_runner_real(inp, work / "old"))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def old_runner_real(inp: Path, out: Path) -> str:
    """The old runner (one process, torch's default 2 threads) on the same folder."""
    import torch

    from guiapp.core import load_model

    old, rev = old_runner_module()
    torch.set_num_threads(2)
    model = load_model("efficientnet-lite0", "cpu")
    before = load()
    runner = old.BatchRunner(inp, out, model, old.TargetSpec(random_seed=0))
    for _ in runner.run():
        pass
    s = runner.summary()
    return (f"| old runner ({rev}^, 1 process, 2 torch threads) | {s.images_per_second:.2f} | | {s.seconds:.1f} | | "
            f"{s.line().split(';')[0]} | before: {before}, after: {load()} |")


def cmd_threads(args) -> None:
    """What fixing 1 torch thread per attack costs (or saves): the same attacks, inline,
    with 1 and with 2 threads, alternating so both see the same machine load."""
    import torch

    from guiapp.core import attack_file, load_model

    work = Path(tempfile.mkdtemp(prefix="batch_threads_"))
    try:
        prepare_images(work / "in", args.n, args.side)
        model = load_model("efficientnet-lite0", "cpu")
        files = sorted((work / "in").iterdir())
        times: dict[int, list[float]] = {1: [], 2: []}
        digests: dict[int, list[bytes]] = {1: [], 2: []}
        before = load()
        for f in files:
            for threads in (1, 2):
                torch.set_num_threads(threads)
                out = work / f"{threads}_{f.name}"
                start = time.perf_counter()
                attack_file(f, "goldfish", out, model=model)
                times[threads].append(time.perf_counter() - start)
                digests[threads].append(out.read_bytes())
        same = sum(a == b for a, b in zip(digests[1], digests[2], strict=True))
        print(f"{args.n} images {args.side}x{args.side}, target goldfish, attack_file inline; before: {before}, "
              f"after: {load()}")
        for threads in (1, 2):
            print(f"{threads} torch thread{'s' if threads > 1 else ''}: "
                  f"median {statistics.median(times[threads]):.2f} s "
                  f"per image, mean {statistics.mean(times[threads]):.2f} s")
        print(f"PNGs identical between 1 and 2 threads: {same}/{len(files)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def journal_rows(out: Path) -> list[str]:
    with sqlite3.connect(out / JOURNAL) as conn:
        return [r[0] for r in conn.execute("SELECT input FROM results")]


def cmd_kill(args) -> None:
    import json

    from guiapp.core.png_output import read_png_metadata

    work = Path(tempfile.mkdtemp(prefix="batch_kill_"))
    inp, out = work / "in", work / "out"
    prepare_images(inp, args.n, args.side)
    argv = cli("batch", str(inp), "--out", str(out), "--random-targets", "--seed", "0", "--device", "cpu",
               "--workers", "2")
    try:
        print(f"real attacks, {args.n} images {args.side}x{args.side}, --workers 2 ({load()})")
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        committed: list[str] = []
        start = time.perf_counter()
        while len(committed) < args.n // 2:
            time.sleep(0.1)
            try:
                committed = journal_rows(out) if (out / JOURNAL).exists() else []
            except sqlite3.OperationalError:
                pass
            if proc.poll() is not None:
                raise SystemExit("the batch ended before it could be killed")
        os.kill(proc.pid, signal.SIGKILL)  # the driver only: its workers must notice and exit
        proc.wait()
        killed_at = time.perf_counter() - start
        committed = journal_rows(out)
        stamps = {n: (out / Path(n).with_suffix(".png")).stat().st_mtime_ns for n in committed}
        pngs = len(list(out.glob("*.png")))
        time.sleep(1)
        orphans = subprocess.run(["pgrep", "-f", "multiprocessing.spawn"],
                                 capture_output=True, text=True).stdout.split()
        print(f"SIGKILL after {killed_at:.1f} s: {len(committed)} rows committed, {pngs} PNGs on disk "
              f"(an image saved but not yet committed is redone), worker processes left: {len(orphans)}")
        report = subprocess.run(cli("batch-report", str(out)), capture_output=True, text=True)
        print(f"batch-report: {report.stdout.splitlines()[0]}")
        summary = json.loads((out / "report.json").read_text())["summary"]
        assert summary["total"] == args.n and summary["pending"] == args.n - len(committed), summary
        wall, line, _ = run_cli(argv)
        print(f"resume: {line} ({wall:.1f} s)")
        journal = journal_rows(out)
        redone = [n for n, stamp in stamps.items()
                  if journal.count(n) != 1 or (out / Path(n).with_suffix(".png")).stat().st_mtime_ns != stamp]
        lost = sorted({p.name for p in inp.iterdir()} - set(journal))
        rows = json.loads((out / "report.json").read_text())["rows"]
        mismatched = [r["input"] for r in rows
                      if read_png_metadata(out / r["output"]).get("target", "").split(" ")[0] != str(r["target"])]
        print(f"committed before the kill and redone: {len(redone)}; lost: {len(lost)}; report rows whose PNG "
              f"says another target: {len(mismatched)}; rows {len(rows)}, PNGs {len(list(out.glob('*.png')))}, "
              f"temp files left: {len(list(out.glob('.*.tmp')))}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("overhead")
    p.add_argument("--sizes", default="100,5000,50000")
    p.add_argument("--old-sizes", default="100,500,1000",
                   help="'' to skip the old runner (quadratic: 5000 takes ~20 min)")
    p.add_argument("--repeat", type=int, default=3)
    p.set_defaults(func=cmd_overhead)
    p = sub.add_parser("throughput")
    p.add_argument("--n", type=int, default=24)
    p.add_argument("--side", type=int, default=224)
    p.add_argument("--old", action="store_true", help="also time the old runner (2 torch threads)")
    p.set_defaults(func=cmd_throughput)
    p = sub.add_parser("threads")
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--side", type=int, default=224)
    p.set_defaults(func=cmd_threads)
    p = sub.add_parser("kill")
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--side", type=int, default=64)
    p.set_defaults(func=cmd_kill)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
