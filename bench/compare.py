"""guiapp against torchattacks, Foolbox and ART: same images, targets, model, device and judge.

    pip install -e '.[bench]'           # the peers, matplotlib and the Lite2 judge
    python bench/compare.py --half held --n 20 --seed 0 [--out docs/compare]

The photos are the first n seeded pairs of the held-back half of ../shared/imagenet-samples
(bench/common.py: odd class indices, never used to choose a setting), each with a seeded
random target; `--half all` takes a seeded sample of all 1000 instead. Every method attacks
the same full-resolution image through the same differentiable preprocessing of
EfficientNet-Lite0 (a module taking [0, 1] images of any size); guiapp through its public
API (make_config, plan_attack, AttackRun: what attack_file runs). Every output is rounded
to 8 bits, saved as PNG, re-read, and judged by the standard PIL pipeline. Survival: the
target still top-1 after JPEG-75 or a 2x down/up rescale of the model's 224-px view.
Transfer: top-1 on EfficientNet-Lite2.

A peer that is not installed is skipped with a line saying so (the guiapp rows still run);
a method that raises is reported as "could not run" and the script exits 1. `--steps N`
caps every method's steps: the smoke run CI makes (`bench/smoke.py`), not a comparison.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from guiapp.core import AttackRun, GuiappError, load_model, make_config, plan_attack  # noqa: E402
from guiapp.core import defences as D  # noqa: E402
from guiapp.core.imageio import LoadedImage, load_image  # noqa: E402
from guiapp.core.metrics import distortion  # noqa: E402
from guiapp.core.png_output import save_png  # noqa: E402
from guiapp.core.predict import classify_pil, classify_view  # noqa: E402
from guiapp.core.preprocess import image_to_tensor, tensor_to_image  # noqa: E402

from common import DEFAULT_IMAGES, half_pairs, machine, pct, sample_images  # noqa: E402

BENCH_EXTRA = "pip install -e '.[bench]'"
# --steps caps every method's step count (a smoke run of the script, not a comparison).
STEPS_CAP: int | None = None


def steps(n: int) -> int:
    return min(n, STEPS_CAP) if STEPS_CAP else n


class ForwardCounter:
    """Counts the images pushed through the network's feature layers while `on` (every
    pass of every method, whatever calls it; this script's own judging is not counted)."""

    def __init__(self, clf) -> None:
        self.count = 0
        self.on = False
        clf.feature_net.register_forward_pre_hook(self._hook)

    def _hook(self, _module, inputs) -> None:
        if self.on:
            self.count += int(inputs[0].shape[0])


class Model(torch.nn.Module):
    """[0,1] image at any size -> logits: what the peers attack (the classifier's own
    differentiable preprocessing, then the network)."""

    def __init__(self, clf) -> None:
        super().__init__()
        self.clf = clf

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.clf.logits(x)


# An attack: (model, x in [0,1] (1,3,H,W), the loaded image, target) -> either
# (8-bit result, the method's own verdict) or the float adversarial tensor (the script
# then asks the model for the method's claim, before 8-bit rounding).
Attack = Callable[[Model, torch.Tensor, LoadedImage, int], "tuple[np.ndarray, bool] | torch.Tensor"]


def run_guiapp(mode: str, **options) -> Attack:
    """guiapp through its public API: make_config -> plan_attack -> AttackRun, the same
    calls `attack_file` makes (its saving and re-reading are done by this script, as for
    every method). Timed from the plan: its checks and the clean image's classification
    are part of the cost."""
    def attack(model: Model, x: torch.Tensor, image: LoadedImage, target: int):
        opts = dict(options)
        if STEPS_CAP:
            opts.update(max_steps=STEPS_CAP, refine_steps=min(opts.get("refine_steps") or STEPS_CAP, STEPS_CAP))
        config = make_config(mode, **opts)
        plan = plan_attack(image, target, config=config, model=model.clf, centroids=None)
        run = AttackRun(plan)
        for _ in run.steps():
            pass
        return run.result.adversarial, run.result.success
    return attack


def run_torchattacks(name: str) -> Attack:
    def attack(model: Model, x: torch.Tensor, image: LoadedImage, target: int):
        import torchattacks

        atk = {
            "PGD": lambda: torchattacks.PGD(model, eps=8 / 255, alpha=2 / 255, steps=steps(10), random_start=True),
            "MIFGSM": lambda: torchattacks.MIFGSM(model, eps=8 / 255, alpha=2 / 255, steps=steps(10), decay=1.0),
            "CW": lambda: torchattacks.CW(model, c=1, kappa=0, steps=steps(50), lr=0.01),
        }[name]()
        atk.set_mode_targeted_by_label(quiet=True)
        return atk(x, torch.tensor([target]))
    return attack


def run_foolbox(name: str) -> Attack:
    def attack(model: Model, x: torch.Tensor, image: LoadedImage, target: int):
        import foolbox as fb

        fmodel = fb.PyTorchModel(model.eval(), bounds=(0, 1))
        criterion = fb.criteria.TargetedMisclassification(torch.tensor([target]))
        if name == "LinfPGD":
            _, adv, _ = fb.attacks.LinfPGD(steps=steps(40))(fmodel, x, criterion, epsilons=8 / 255)
        else:  # minimum-norm: fast minimal norm (Pintor et al. 2021), L2
            _, adv, _ = fb.attacks.L2FMNAttack(steps=steps(100))(fmodel, x, criterion, epsilons=None)
        return adv
    return attack


def run_art_pgd() -> Attack:
    """ART's PGD at torchattacks' PGD settings, for a like-for-like row."""
    def attack(model: Model, x: torch.Tensor, image: LoadedImage, target: int):
        from art.attacks.evasion import ProjectedGradientDescent
        from art.estimators.classification import PyTorchClassifier

        # ART fixes the input shape per estimator, so one is made per image (cheap).
        estimator = PyTorchClassifier(model=model.eval(), loss=torch.nn.CrossEntropyLoss(),
                                      input_shape=tuple(x.shape[1:]), nb_classes=1000, clip_values=(0.0, 1.0),
                                      device_type="cpu")
        atk = ProjectedGradientDescent(estimator, norm=np.inf, eps=8 / 255, eps_step=2 / 255, max_iter=steps(10),
                                       targeted=True, num_random_init=1, batch_size=1, verbose=False)
        return torch.from_numpy(atk.generate(x=x.numpy(), y=np.array([target])))
    return attack


# id -> (name shown in the report, attack, the package it needs: None = guiapp itself)
METHODS: dict[str, tuple[str, Attack, str | None]] = {
    "guiapp": ("guiapp default", run_guiapp("default"), None),
    "guiapp-robust": ("guiapp robust", run_guiapp("robust"), None),
    "guiapp-fine": ("guiapp --refine-steps 10", run_guiapp("default", refine_steps=10), None),
    "ta-pgd": ("torchattacks PGD (8/255, 10 steps)", run_torchattacks("PGD"), "torchattacks"),
    "ta-mifgsm": ("torchattacks MI-FGSM (8/255, 10 steps)", run_torchattacks("MIFGSM"), "torchattacks"),
    "ta-cw": ("torchattacks CW (c=1, 50 steps)", run_torchattacks("CW"), "torchattacks"),
    "fb-pgd": ("Foolbox LinfPGD (8/255, 40 steps)", run_foolbox("LinfPGD"), "foolbox"),
    "fb-fmn": ("Foolbox L2 FMN (100 steps)", run_foolbox("FMN"), "foolbox"),
    "art-pgd": ("ART PGD (8/255, 2/255, 10 steps)", run_art_pgd(), "art"),
}
BASELINE = "ta-pgd"
SECOND = "efficientnet-lite2"  # the transfer judge (in the [bench] extra)


def pairs_of(args) -> list[tuple[Path, int, int]]:
    if args.half == "all":
        return sample_images(args.images, args.n, args.seed)
    return half_pairs(args.half, args.n, args.seed, folder=args.images)


def command_of(args) -> str:
    parts = ["python bench/compare.py", f"--half {args.half}", f"--n {args.n}", f"--seed {args.seed}"]
    if args.methods != ",".join(METHODS):
        parts.append(f"--methods {args.methods}")
    if args.steps:
        parts.append(f"--steps {args.steps}")
    if args.threads:
        parts.append(f"--threads {args.threads}")
    return " ".join(parts)


def main() -> int:
    global STEPS_CAP
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    ap.add_argument("--half", choices=("held", "tune", "all"), default="held",
                    help="photos from the held-back half (default: no setting was chosen on them), the tuning "
                    "half, or a seeded sample of all 1000 (bench/common.py)")
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--methods", default=",".join(METHODS), help="comma list of method ids: " + ",".join(METHODS))
    ap.add_argument("--steps", type=int, default=None,
                    help="cap every method's steps at this (a smoke run of the script: not a comparison)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    ap.add_argument("--out", type=Path, default=Path("docs/compare"))
    ap.add_argument("--from-json", action="store_true", help="rewrite the report from OUT/compare.json only")
    args = ap.parse_args()
    STEPS_CAP = args.steps
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.from_json:
        saved = json.loads((args.out / "compare.json").read_text())
        write_report(saved["rows"], saved["errors"], saved.get("skipped", {}), args, range(saved.get("n", args.n)),
                     saved.get("command", command_of(args)), saved.get("machine", ""))
        return 0

    chosen = [m for m in args.methods.split(",") if m]
    unknown = [m for m in chosen if m not in METHODS]
    if unknown:
        raise SystemExit(f"unknown method ids {unknown}; choose from {list(METHODS)}")
    # A peer that is not installed is skipped, and said so: the guiapp rows still run.
    skipped = {m: f"skipped: {METHODS[m][2]} is not installed ({BENCH_EXTRA})" for m in chosen
               if METHODS[m][2] and importlib.util.find_spec(METHODS[m][2]) is None}
    for m, why in skipped.items():
        print(f"{METHODS[m][0]}: {why}", flush=True)
    clf = load_model("efficientnet-lite0", "cpu")
    try:
        second = load_model(SECOND, "cpu")
    except GuiappError as exc:
        second = None
        print(f"transfer column skipped: {SECOND} is not installed ({BENCH_EXTRA}): {exc}", flush=True)
    model = Model(clf).eval()
    counter = ForwardCounter(clf)
    items = pairs_of(args)
    rows: dict[str, list[dict]] = {m: [] for m in chosen if m not in skipped}
    errors: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k, (path, _, target) in enumerate(items):
            loaded = load_image(path)
            img = loaded.rgb
            x = image_to_tensor(img)
            distortion(img, img)  # the metrics' libraries load now, not inside the first timed attack
            for name in rows:
                if name in errors:
                    continue
                counter.count, counter.on = 0, True
                start = time.perf_counter()
                try:
                    out = METHODS[name][1](model, x, loaded, target)
                except Exception as exc:  # a method that cannot run is reported (and fails the run), not hidden
                    errors[name] = f"{type(exc).__name__}: {exc}"
                    print(f"{k + 1:3d} {METHODS[name][0]:40s} could not run: {errors[name]}", flush=True)
                    continue
                finally:
                    counter.on = False
                seconds = time.perf_counter() - start
                if isinstance(out, torch.Tensor):  # a peer: its claim is the float image's class
                    with torch.no_grad():
                        claimed = int(clf.logits(out).argmax()) == target
                    adv = tensor_to_image(out)
                else:
                    adv, claimed = out
                png = save_png(Path(tmp) / f"{k}.png", adv)
                saved = load_image(png).rgb
                ok = int(classify_pil(clf, Image.fromarray(saved)).argmax()) == target
                view = D.model_view(saved, clf.spec)
                dist = distortion(img, saved)
                rows[name].append({
                    "file": path.name, "target": target, "success": ok, "claimed": claimed,
                    "psnr": dist.psnr, "ssim": dist.ssim, "linf": dist.linf, "seconds": seconds,
                    "forwards": counter.count,
                    "jpeg75": ok and int(classify_view(clf, D.jpeg(view, 75)).argmax()) == target,
                    "rescale2x": ok and int(classify_view(clf, D.rescale(view, 0.5)).argmax()) == target,
                    "lite2": None if second is None else
                    int(classify_pil(second, Image.fromarray(saved)).argmax()) == target,
                })
                r = rows[name][-1]
                print(f"{k + 1:3d} {METHODS[name][0]:40s} {'ok ' if ok else 'FAIL'} "
                      f"psnr {r['psnr']:5.1f} {seconds:5.2f}s "
                      f"jpeg {int(r['jpeg75'])} rescale {int(r['rescale2x'])} lite2 {r['lite2']}", flush=True)
    write_report(rows, errors, skipped, args, items, command_of(args), machine())
    if errors:
        print(f"FAILED: {len(errors)} method(s) could not run: {', '.join(errors)}", file=sys.stderr)
        return 1
    return 0


def summarise(rs: list[dict]) -> dict:
    # Distortion only over successes: a failed attack that returns the input unchanged
    # (CW, FMN) would otherwise look perfectly invisible.
    ok = [r for r in rs if r["success"]] or rs
    finite = [r["psnr"] if np.isfinite(r["psnr"]) else 99.0 for r in ok]
    judged = [r["lite2"] for r in rs if r.get("lite2") is not None]
    return {
        "n": len(rs),
        "success": 100 * np.mean([r["success"] for r in rs]),
        "claimed": 100 * np.mean([r["claimed"] for r in rs]),
        "psnr_median": float(np.median(finite)),
        "psnr_p10": pct(finite, 10),
        "ssim_median": float(np.median([r["ssim"] for r in ok])),
        "linf_median": float(np.median([r["linf"] for r in ok])),
        "seconds_median": float(np.median([r["seconds"] for r in rs])),
        "seconds_mean": float(np.mean([r["seconds"] for r in rs])),
        "forwards_median": float(np.median([r["forwards"] for r in rs])),
        "jpeg75": 100 * np.mean([r["jpeg75"] for r in rs]),
        "rescale2x": 100 * np.mean([r["rescale2x"] for r in rs]),
        "lite2": 100 * np.mean(judged) if judged else None,
    }


def write_report(rows, errors, skipped, args, items, command: str, machine_text: str) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {name: summarise(rs) for name, rs in rows.items() if rs}
    base = summary.get(BASELINE)
    capped = f" **Steps capped at {args.steps}: a smoke run, not a comparison.**" if args.steps else ""
    lines = [
        f"`{command}` — {len(items)} images, {machine_text}, CPU.{capped}",
        "",
        "| method | success (PNG, PIL judge) | own claim | PSNR median / p10 (successes) | SSIM | L-inf | s/image "
        "| forwards/image "
        "| JPEG-75 survives | 2x rescale survives | transfers to Lite2 | PSNR vs PGD | time vs PGD |",
        "|---" * 13 + "|",
    ]
    for name, s in summary.items():
        shown = METHODS[name][0]
        ratio_psnr = f"{s['psnr_median'] - base['psnr_median']:+.1f} dB" if base else "—"
        ratio_time = f"{s['seconds_median'] / base['seconds_median']:.2f}x" if base else "—"
        lite2 = "n/a" if s["lite2"] is None else f"{s['lite2']:.0f}%"
        lines.append(
            f"| {shown} | {s['success']:.0f}% | {s['claimed']:.0f}% | {s['psnr_median']:.1f} / {s['psnr_p10']:.1f} dB "
            f"| {s['ssim_median']:.4f} | {s['linf_median']:.0f}/255 | {s['seconds_median']:.2f} "
            f"| {s['forwards_median']:.0f} "
            f"| {s['jpeg75']:.0f}% | {s['rescale2x']:.0f}% | {lite2} | {ratio_psnr} | {ratio_time} |"
        )
    for name, err in errors.items():
        lines.append(f"| {METHODS[name][0]} | could not run: {err[:120]} |" + " |" * 11)
    for name, why in skipped.items():
        lines.append(f"| {METHODS[name][0]} | {why} |" + " |" * 11)
    (args.out / "compare.md").write_text("\n".join(lines) + "\n")
    (args.out / "compare.json").write_text(json.dumps(
        {"command": command, "machine": machine_text, "n": len(items), "summary": summary, "errors": errors,
         "skipped": skipped, "rows": rows}, indent=1))
    print("\n".join(lines))
    if importlib.util.find_spec("matplotlib") is None:
        print(f"plot skipped: matplotlib is not installed ({BENCH_EXTRA})")
    elif summary:
        plot(summary, args.out / "compare.png")


def _place_labels(ax, pts: list[tuple[float, float, str]]) -> None:
    """Annotate points; a label that would overlap an earlier one moves up until it is free."""
    ax.margins(x=0.15, y=0.12)
    ax.autoscale_view()  # fix the limits now: label positions are computed from them
    to_axes = ax.transData + ax.transAxes.inverted()
    line = 0.055  # one label's height, in axes fractions
    # (left, bottom, right) in axes fractions of what is drawn: the markers, then labels.
    boxes = [(fx - 0.015, fy - line / 2, fx + 0.008) for fx, fy in (to_axes.transform(p[:2]) for p in pts)]
    for x, y, name in sorted(pts, key=lambda p: (p[1], p[0])):
        fx, fy = to_axes.transform((x, y))
        left, right, bottom = fx + 0.01, fx + 0.01 + 0.0125 * len(name), fy - line / 2
        while any(bl < right and left < br and abs(bb - bottom) < line for bl, bb, br in boxes):
            bottom += line
        moved = bottom > fy - line / 2 + 1e-9
        boxes.append((left, bottom, right))
        ax.annotate(name, (x, y), xytext=(left, bottom + line / 2), textcoords="axes fraction", fontsize=8, va="center",
                    arrowprops={"arrowstyle": "-", "color": "#aaaaaa", "lw": 0.6} if moved else None)


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    points: list[list[tuple[float, float, str]]] = [[], []]
    for key, s in summary.items():
        name = METHODS[key][0]
        colour = "#188038" if name.startswith("guiapp") else "#5f6368"
        survival = min(s["jpeg75"], s["rescale2x"])
        for ax, pts, xy in zip(axes, points, [(s["seconds_median"], s["psnr_median"]), (s["psnr_median"], survival)],
                               strict=True):
            ax.scatter(*xy, s=60, color=colour)
            pts.append((*xy, name.split(" (")[0]))
    axes[0].set_xscale("log")
    seconds = [s["seconds_median"] for s in summary.values()]
    ticks = [t for t in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50) if min(seconds) / 1.5 <= t <= max(seconds) * 1.5]
    axes[0].set_xticks(ticks, [f"{t:g}" for t in ticks])
    axes[0].xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    for ax, pts in zip(axes, points, strict=True):
        _place_labels(ax, pts)
    axes[0].set_xlabel("median seconds per image (CPU)")
    axes[0].set_ylabel("median PSNR (dB, higher = less visible)")
    axes[1].set_xlabel("median PSNR (dB)")
    axes[1].set_ylabel("% surviving both JPEG-75 and 2x rescale")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle("Targeted attacks on EfficientNet-Lite0 (green: guiapp)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
