"""The query mode against a hosted classifier on the loopback (issue 32's bars).

    python bench/query.py --n 24 [--victim lite2|mobilenet_v2|squeezenet1_0|shufflenet_v1] [--top-k 5]
                          [--max-queries 20]

A victim endpoint (bench/victim_server.py, a separate process that imports no guiapp code)
serves a TorchScript (or ONNX) network with its card and answers each POSTed PNG with its top k as
`[{"label": "<full synonym string>", "score": p}]` (k = 1: the top label only). The victim
is EfficientNet-Lite2 (exported here to TorchScript once) or one of ../shared/models.
Each held-back pair (bench/common.py) is attacked through the public pipeline
(`attack_file`, mode "query", the victim's URL, the quiet default), and the endpoint counts
the questions itself. Prints success (the victim's answer to the saved PNG, re-asked once
after the run and not counted), queries (median, 95th percentile; a failure counts its
whole budget), the quality figures, the flat-area swirl figure, and seconds per image.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DEFAULT_IMAGES, half_pairs, machine, pct  # noqa: E402

SHARED_MODELS = (DEFAULT_IMAGES.parent / "models").resolve()
HERE = Path(__file__).resolve().parent


def lite2_torchscript(folder: Path) -> tuple[Path, Path]:
    """EfficientNet-Lite2 as a TorchScript file with a card (the endpoint loads it with plain torch)."""
    import torch

    from guiapp.core.labels import imagenet_labels
    from guiapp.core.models import load_model

    model = load_model("efficientnet-lite2", "cpu")

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features, self.head = model.feature_net, model.head_net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.features(x))

    spec = model.spec
    path = folder / "lite2.pt"
    torch.jit.save(torch.jit.trace(Net().eval(), torch.zeros(1, 3, spec.crop, spec.crop)), str(path))
    (folder / "labels.txt").write_text("\n".join(", ".join(c.synonyms) for c in imagenet_labels().classes) + "\n")
    card = {"labels": "labels.txt", "input_size": spec.crop, "resize": spec.resize, "crop": spec.crop,
            "pixel_range": [0, 1], "mean": list(spec.mean), "std": list(spec.std), "channel_order": "RGB"}
    (folder / "lite2.json").write_text(json.dumps(card))
    return path, folder / "lite2.json"


def victim_files(name: str, folder: Path) -> tuple[Path, Path]:
    if name == "lite2":
        return lite2_torchscript(folder)
    found = [path for path in (SHARED_MODELS / f"{name}.pt", SHARED_MODELS / f"{name}.onnx") if path.is_file()]
    if not found:
        raise SystemExit(f"no TorchScript or ONNX file {SHARED_MODELS / name}.pt|.onnx")
    return found[0], found[0].with_suffix(".json")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_endpoint(model: Path, card: Path, top_k: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(HERE / "victim_server.py"), "--model", str(model), "--card",
                             str(card), "--port", str(port), "--top-k", str(top_k)])
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            with urllib.request.urlopen(url + "/count", timeout=1):
                return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the victim endpoint did not start")


def endpoint_count(url: str) -> int:
    with urllib.request.urlopen(url + "/count", timeout=10) as r:
        return int(json.loads(r.read())["queries"])


def ask_saved(url: str, path: Path) -> str:
    """The endpoint's top label for the saved file (after the run; not counted as a query of it)."""
    from guiapp.core.labels import imagenet_labels
    from guiapp.core.victims import HttpOptions, HttpVictim

    answer = HttpVictim(url, imagenet_labels(), HttpOptions()).ask(path.read_bytes())
    return answer.name(answer.top, imagenet_labels())


PAIR_LINE = re.compile(
    r"^(?P<name>\S+): .*: (?P<ok>not fooled|fooled) \((?P<seen>.*)\), (?P<asked>\d+) queries "
    r"\(report (?P<reported>\w+);.*\), (?P<psnr>\S+) dB, SSIM (?P<ssim>\S+), swirl (?P<swirl>\S+), "
    r"(?:CIEDE2000 (?P<ciede>\S+), )?(?P<seconds>\d+) s$")
ERROR_LINE = re.compile(r"^(?P<name>\S+): error after (?P<asked>\d+) queries: ")


def rows_from_log(path: Path) -> list[dict]:
    """The per-pair rows of an earlier run's output (a run stopped before its summary, too)."""
    rows = []
    for line in path.read_text(errors="replace").splitlines():
        if m := PAIR_LINE.match(line):
            rows.append({"ok": m["ok"] == "fooled", "queries": int(m["asked"]),
                         "reported": int(m["reported"]) if m["reported"].isdigit() else None,
                         "psnr": float(m["psnr"]), "ssim": float(m["ssim"]), "swirl": float(m["swirl"]),
                         "ciede": float(m["ciede"]) if m["ciede"] else float("nan"),
                         "seconds": float(m["seconds"])})
        elif m := ERROR_LINE.match(line):
            asked = int(m["asked"])
            rows.append({"ok": False, "queries": asked, "reported": asked, "psnr": float("nan"),
                         "ssim": float("nan"), "ciede": float("nan"), "swirl": float("nan"), "seconds": float("nan")})
    return rows


def summarize(rows: list[dict], args: argparse.Namespace, grow_db: float | None, stopped: str = "",
              settle: int | None = None) -> None:
    """The run's figures over `rows` (one per pair asked about; `grow_db` None: the mode's
    default, as a log read back does not say; `stopped`: why fewer pairs than planned)."""
    n = len(rows)
    won = sum(r["ok"] for r in rows)
    queries = np.array([r["queries"] if r["ok"] else args.max_queries for r in rows], float)
    won_q = np.array([r["queries"] for r in rows if r["ok"]], float)
    swirl = np.array([r["swirl"] for r in rows], float)
    if stopped:
        print(f"\n{stopped}")
    print(f"\nvictim {args.victim} (top {args.top_k}), {n} {args.half} pairs, avoid_top {not args.no_avoid_top}, "
          f"at most {args.max_queries} queries, {machine()}")
    print(f"success {won}/{n} ({100 * won / n:.0f}%), refine {args.refine}, grow_db "
          f"{'(the mode default)' if grow_db is None else f'{grow_db:g}'}, settle_queries "
          f"{'(the mode default)' if settle is None else settle}")
    for k in (2, 5, 10, 20):  # the same run read at smaller budgets (a success counts where it was asked)
        if k < args.max_queries:
            print(f"  within {k} queries: {sum(r['ok'] and r['queries'] <= k for r in rows)}/{n}")
    print(f"queries: median {np.median(queries):.0f}, 95th pct {pct(queries, 95):.0f} (failures count "
          f"{args.max_queries}); among successes median {np.median(won_q) if len(won_q) else float('nan'):.0f}")
    print(f"endpoint count = reported count on every image: {all(r['queries'] == r['reported'] for r in rows)}")
    ciedes = [r["ciede"] for r in rows if np.isfinite(r["ciede"])]
    ciede = f"{np.median(ciedes):.2f}" if ciedes else "n/a (not in the log read)"
    print(f"median PSNR {np.nanmedian([r['psnr'] for r in rows]):.2f} dB, SSIM "
          f"{np.nanmedian([r['ssim'] for r in rows]):.4f}, CIEDE2000 {ciede}")
    print(f"flat-area swirl: max {np.nanmax(swirl) if np.isfinite(swirl).any() else float('nan'):.2f}, "
          f"images over 0.5: {int((swirl > 0.5).sum())}")
    print(f"seconds per image: median {np.nanmedian([r['seconds'] for r in rows]):.1f}; errors: "
          f"{sum(np.isnan(r['psnr']) for r in rows)}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=24)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--victim", default="lite2", help="lite2, or a TorchScript or ONNX file's stem in ../shared/models")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--max-queries", type=int, default=20)
    p.add_argument("--iterations", type=int, default=None, help="surrogate iterations (default: the mode's)")
    p.add_argument("--refine", default="recraft", choices=("recraft", "patches"),
                   help="the search's move once the victim scores the target (the mode's --refine)")
    p.add_argument("--no-avoid-top", action="store_true", help="the mode's --avoid-top false")
    p.add_argument("--grow-db", type=float, default=None, help="the mode's --grow-db (default: the mode's)")
    p.add_argument("--budget-psnr", type=float, default=None,
                   help="the mode's --budget-psnr (default: the quiet default's); lower is louder, to ask how "
                        "much noise the failures would need")
    p.add_argument("--min-ssim", type=float, default=None,
                   help="the mode's --min-ssim (default: the quiet default's); with --budget-psnr, lower is louder")
    p.add_argument("--settle-queries", type=int, default=None,
                   help="the mode's --settle-queries (default: the mode's)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads of the attack (default: torch's own; 1 lets two runs share 2 cores "
                        "without slowing each other several times over)")
    p.add_argument("--only", default="", help="comma-separated positions (0-based) of the n pairs to run, "
                   "to try a setting on an earlier run's failures")
    p.add_argument("--half", default="held", choices=("held", "tune"),
                   help="held-back pairs (the bars) or the tuning half (to try settings on)")
    p.add_argument("--out", type=Path, default=None, help="keep the PNGs here (default: a temporary folder)")
    p.add_argument("--answers", type=Path, default=None,
                   help="append each pair's questions and the victim's answers here, one JSON line per pair "
                        "(to study the search afterwards)")
    p.add_argument("--from-log", type=Path, default=None,
                   help="attack nothing: print the figures of an earlier run from its output (one stopped "
                        "before its summary, too); give the run's --victim, --top-k, --max-queries, --threads")
    args = p.parse_args()
    import torch

    if args.threads:  # for --from-log too, where the summary's machine line should name the run's threads
        torch.set_num_threads(args.threads)
    if args.from_log is not None:
        rows = rows_from_log(args.from_log)
        if not rows:
            raise SystemExit(f"no per-pair lines in {args.from_log}")
        summarize(rows, args, args.grow_db, f"read from {args.from_log}: {len(rows)} pairs", args.settle_queries)
        return

    from guiapp.core.attacks import make_config
    from guiapp.core.labels import imagenet_labels

    labels = imagenet_labels()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        out_dir = args.out or work / "out"
        out_dir.mkdir(parents=True, exist_ok=True)
        model, card = victim_files(args.victim, work)
        proc, url = start_endpoint(model, card, args.top_k)
        try:
            config = make_config("query", victim=url, max_queries=args.max_queries, iterations=args.iterations,
                                 refine=args.refine, avoid_top=not args.no_avoid_top,
                                 **({} if args.grow_db is None else {"grow_db": args.grow_db}),
                                 **({} if args.budget_psnr is None else {"budget_psnr": args.budget_psnr}),
                                 **({} if args.min_ssim is None else {"min_ssim": args.min_ssim}),
                                 **({} if args.settle_queries is None else {"settle_queries": args.settle_queries}))
            rows: list[dict] = []
            stopped = ""
            pairs = half_pairs(args.half, args.n, args.seed)
            if args.only:
                pairs = [pairs[int(i)] for i in args.only.split(",")]
            try:
                run_pairs(pairs, config, url, out_dir, labels, rows, args.answers)
            except KeyboardInterrupt:  # Ctrl-C: the figures of the pairs done so far
                stopped = f"stopped (Ctrl-C) after {len(rows)} of {len(pairs)} pairs"
        finally:
            proc.kill()
    if not rows:
        raise SystemExit(stopped or "no pairs run")
    summarize(rows, args, config.grow_db, stopped, config.settle_queries)


def run_pairs(pairs: list, config: Any, url: str, out_dir: Path, labels: Any, rows: list[dict],
              answers: Path | None = None) -> None:
    """Attack each pair in turn, appending its row to `rows` and printing its line (and its
    answers to the JSON lines file `answers`)."""
    from guiapp.core import attack_file
    from guiapp.core.errors import GuiappError

    for path, true, target in pairs:
        before = endpoint_count(url)
        start = time.perf_counter()
        out = out_dir / f"{path.stem}_to_{target}.png"
        try:
            report = attack_file(path, target, out, config=config, device="cpu")
        except GuiappError as exc:  # a victim's answer we could not read: a failure, said
            asked = endpoint_count(url) - before
            print(f"{path.name}: error after {asked} queries: {exc}", flush=True)
            rows.append({"ok": False, "queries": asked, "reported": asked, "psnr": float("nan"),
                         "ssim": float("nan"), "ciede": float("nan"), "swirl": float("nan"),
                         "seconds": time.perf_counter() - start})
            continue
        seconds = time.perf_counter() - start
        asked = endpoint_count(url) - before
        seen = ask_saved(url, out) if report.output else "?"
        ok = report.success and seen == labels[target].name
        rows.append({"ok": ok, "queries": asked, "reported": report.queries, "psnr": report.psnr,
                     "ssim": report.ssim, "ciede": report.ciede2000, "swirl": report.flat_swirl,
                     "seconds": seconds})
        phases = {}
        for a in report.answers:
            phases[a["phase"]] = phases.get(a["phase"], 0) + 1
        scores = [a["target_score"] for a in report.answers if a.get("target_score") is not None]
        print(f"{path.name}: {labels[true].name} -> {labels[target].name}: "
              f"{'fooled' if ok else 'not fooled'} ({seen}), {asked} queries (report {report.queries}; "
              f"{', '.join(f'{k} {v}' for k, v in phases.items())}; best target score "
              f"{max(scores) if scores else float('nan'):.3f}), "
              f"{report.psnr:.1f} dB, SSIM {report.ssim:.3f}, swirl {report.flat_swirl:.2f}, "
              f"CIEDE2000 {report.ciede2000:.2f}, "
              f"{seconds:.0f} s", flush=True)
        if answers is not None:
            with answers.open("a") as f:
                f.write(json.dumps({"image": path.name, "target": labels[target].name, "fooled": ok,
                                    "answers": report.answers}) + "\n")


if __name__ == "__main__":
    main()
