"""guiapp against torchattacks, Foolbox and ART: same images, targets, model, device and judge.

    pip install -e '.[bench]'
    python bench/compare.py --n 20 --seed 0 [--out docs/compare]

Every method attacks the same full-resolution image through the same differentiable
preprocessing of EfficientNet-Lite0 (a module taking [0, 1] images of any size), with the
same seeded random target. Every output is rounded to 8 bits, saved as PNG, re-read, and
judged by the standard PIL pipeline. Survival: the target still top-1 after JPEG-75 or a
2x down/up rescale of the model's 224-px view. Transfer: top-1 on EfficientNet-Lite2.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from guiapp.core import AttackConfig, TargetedAttack, load_model  # noqa: E402
from guiapp.core import defences as D  # noqa: E402
from guiapp.core.imageio import load_image  # noqa: E402
from guiapp.core.metrics import distortion  # noqa: E402
from guiapp.core.png_output import save_png  # noqa: E402
from guiapp.core.predict import classify_pil, classify_view  # noqa: E402
from guiapp.core.preprocess import image_to_tensor, tensor_to_image  # noqa: E402

from common import DEFAULT_IMAGES, machine, pct, sample_images  # noqa: E402


class CountingModel(torch.nn.Module):
    """[0,1] image at any size -> logits, counting images passed forward."""

    def __init__(self, clf) -> None:
        super().__init__()
        self.clf = clf
        self.forwards = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.forwards += x.shape[0]
        return self.clf.logits(x)


def run_guiapp(robust: bool, refine_steps: int | None = None):
    def attack(model: CountingModel, x: torch.Tensor, img: np.ndarray, target: int):
        config = AttackConfig(mode="robust" if robust else "default", refine_steps=refine_steps)
        a = TargetedAttack(model.clf, img, target, config)
        list(a.steps())
        views = 3 if robust else 1
        model.forwards += a.result.steps * views  # step 1 is the clean pass; judge calls excluded
        return a.result.adversarial, a.result.success
    return attack


def run_torchattacks(name: str):
    import torchattacks

    def attack(model: CountingModel, x: torch.Tensor, img: np.ndarray, target: int):
        atk = {
            "PGD": lambda: torchattacks.PGD(model, eps=8 / 255, alpha=2 / 255, steps=10, random_start=True),
            "MIFGSM": lambda: torchattacks.MIFGSM(model, eps=8 / 255, alpha=2 / 255, steps=10, decay=1.0),
            "CW": lambda: torchattacks.CW(model, c=1, kappa=0, steps=50, lr=0.01),
        }[name]()
        atk.set_mode_targeted_by_label(quiet=True)
        adv = atk(x, torch.tensor([target]))
        with torch.no_grad():
            claimed = int(model.clf.logits(adv).argmax()) == target
        return tensor_to_image(adv), claimed
    return attack


def run_foolbox(name: str):
    import foolbox as fb

    def attack(model: CountingModel, x: torch.Tensor, img: np.ndarray, target: int):
        fmodel = fb.PyTorchModel(model.eval(), bounds=(0, 1))
        criterion = fb.criteria.TargetedMisclassification(torch.tensor([target]))
        if name == "LinfPGD":
            _, adv, ok = fb.attacks.LinfPGD()(fmodel, x, criterion, epsilons=8 / 255)
        else:  # minimum-norm: fast minimal norm (Pintor et al. 2021), L2
            _, adv, ok = fb.attacks.L2FMNAttack(steps=100)(fmodel, x, criterion, epsilons=None)
        return tensor_to_image(adv), bool(ok.item())
    return attack


def run_art_pgd():
    """ART's PGD at torchattacks' PGD settings, for a like-for-like row."""
    def attack(model: CountingModel, x: torch.Tensor, img: np.ndarray, target: int):
        from art.attacks.evasion import ProjectedGradientDescent
        from art.estimators.classification import PyTorchClassifier

        # ART fixes the input shape per estimator, so one is made per image (cheap).
        estimator = PyTorchClassifier(model=model.eval(), loss=torch.nn.CrossEntropyLoss(),
                                      input_shape=tuple(x.shape[1:]), nb_classes=1000, clip_values=(0.0, 1.0),
                                      device_type="cpu")
        atk = ProjectedGradientDescent(estimator, norm=np.inf, eps=8 / 255, eps_step=2 / 255, max_iter=10,
                                       targeted=True, num_random_init=1, batch_size=1, verbose=False)
        adv = atk.generate(x=x.numpy(), y=np.array([target]))
        adv_t = torch.from_numpy(adv)
        with torch.no_grad():
            claimed = int(model.clf.logits(adv_t).argmax()) == target
        return tensor_to_image(adv_t), claimed
    return attack


# id -> (name shown in the report, attack)
METHODS = {
    "guiapp": ("guiapp default", run_guiapp(False)),
    "guiapp-robust": ("guiapp robust", run_guiapp(True)),
    "guiapp-fine": ("guiapp --refine-steps 10", run_guiapp(False, refine_steps=10)),
    "ta-pgd": ("torchattacks PGD (8/255, 10 steps)", run_torchattacks("PGD")),
    "ta-mifgsm": ("torchattacks MI-FGSM (8/255, 10 steps)", run_torchattacks("MIFGSM")),
    "ta-cw": ("torchattacks CW (c=1, 50 steps)", run_torchattacks("CW")),
    "fb-pgd": ("Foolbox LinfPGD (8/255, 40 steps)", run_foolbox("LinfPGD")),
    "fb-fmn": ("Foolbox L2 FMN (100 steps)", run_foolbox("FMN")),
    "art-pgd": ("ART PGD (8/255, 2/255, 10 steps)", run_art_pgd()),
}
BASELINE = "ta-pgd"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--methods", default=",".join(METHODS), help="comma list of method ids: " + ",".join(METHODS))
    ap.add_argument("--out", type=Path, default=Path("docs/compare"))
    ap.add_argument("--from-json", action="store_true", help="rewrite the report from OUT/compare.json only")
    args = ap.parse_args()
    if args.from_json:
        saved = json.loads((args.out / "compare.json").read_text())
        write_report(saved["rows"], saved["errors"], args, range(saved.get("n", args.n)))
        return

    clf = load_model("efficientnet-lite0", "cpu")
    second = load_model("efficientnet-lite2", "cpu")
    model = CountingModel(clf).eval()
    chosen = [m for m in args.methods.split(",") if m]
    unknown = [m for m in chosen if m not in METHODS]
    if unknown:
        raise SystemExit(f"unknown method ids {unknown}; choose from {list(METHODS)}")
    items = sample_images(args.images, args.n, args.seed)
    rows: dict[str, list[dict]] = {m: [] for m in chosen}
    errors: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k, (path, _, target) in enumerate(items):
            img = load_image(path).rgb
            x = image_to_tensor(img)
            for name in chosen:
                if name in errors:
                    continue
                model.forwards = 0
                start = time.perf_counter()
                try:
                    adv, claimed = METHODS[name][1](model, x, img, target)
                except Exception as exc:  # a peer that cannot run is reported, not hidden
                    errors[name] = f"{type(exc).__name__}: {exc}"
                    continue
                seconds = time.perf_counter() - start
                png = save_png(Path(tmp) / f"{k}.png", adv)
                saved = load_image(png).rgb
                ok = int(classify_pil(clf, Image.fromarray(saved)).argmax()) == target
                view = D.model_view(saved, clf.spec)
                dist = distortion(img, saved)
                rows[name].append({
                    "file": path.name, "target": target, "success": ok, "claimed": claimed,
                    "psnr": dist.psnr, "ssim": dist.ssim, "linf": dist.linf, "seconds": seconds,
                    "forwards": model.forwards,
                    "jpeg75": ok and int(classify_view(clf, D.jpeg(view, 75)).argmax()) == target,
                    "rescale2x": ok and int(classify_view(clf, D.rescale(view, 0.5)).argmax()) == target,
                    "lite2": int(classify_pil(second, Image.fromarray(saved)).argmax()) == target,
                })
                r = rows[name][-1]
                print(f"{k + 1:3d} {METHODS[name][0]:40s} {'ok ' if ok else 'FAIL'} "
                      f"psnr {r['psnr']:5.1f} {seconds:5.2f}s "
                      f"jpeg {int(r['jpeg75'])} rescale {int(r['rescale2x'])} lite2 {int(r['lite2'])}", flush=True)
    write_report(rows, errors, args, items)


def summarise(rs: list[dict]) -> dict:
    # Distortion only over successes: a failed attack that returns the input unchanged
    # (CW, FMN) would otherwise look perfectly invisible.
    ok = [r for r in rs if r["success"]] or rs
    finite = [r["psnr"] if np.isfinite(r["psnr"]) else 99.0 for r in ok]
    return {
        "n": len(rs),
        "success": 100 * np.mean([r["success"] for r in rs]),
        "claimed": 100 * np.mean([r["claimed"] for r in rs]),
        "psnr_median": float(np.median(finite)),
        "psnr_p10": pct(finite, 10),
        "ssim_median": float(np.median([r["ssim"] for r in ok])),
        "linf_median": float(np.median([r["linf"] for r in ok])),
        "seconds_median": float(np.median([r["seconds"] for r in rs])),
        "forwards_median": float(np.median([r["forwards"] for r in rs])),
        "jpeg75": 100 * np.mean([r["jpeg75"] for r in rs]),
        "rescale2x": 100 * np.mean([r["rescale2x"] for r in rs]),
        "lite2": 100 * np.mean([r["lite2"] for r in rs]),
    }


def write_report(rows, errors, args, items) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {name: summarise(rs) for name, rs in rows.items() if rs}
    base = summary.get(BASELINE)
    lines = [
        f"`python bench/compare.py --n {args.n} --seed {args.seed}` — {len(items)} images, {machine()}, CPU.",
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
        lines.append(
            f"| {shown} | {s['success']:.0f}% | {s['claimed']:.0f}% | {s['psnr_median']:.1f} / {s['psnr_p10']:.1f} dB "
            f"| {s['ssim_median']:.4f} | {s['linf_median']:.0f}/255 | {s['seconds_median']:.2f} "
            f"| {s['forwards_median']:.0f} "
            f"| {s['jpeg75']:.0f}% | {s['rescale2x']:.0f}% | {s['lite2']:.0f}% | {ratio_psnr} | {ratio_time} |"
        )
    for name, err in errors.items():
        lines.append(f"| {METHODS[name][0]} | could not run: {err[:120]} |" + " |" * 11)
    (args.out / "compare.md").write_text("\n".join(lines) + "\n")
    (args.out / "compare.json").write_text(
        json.dumps({"n": len(items), "summary": summary, "errors": errors, "rows": rows}, indent=1))
    print("\n".join(lines))
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
    axes[0].set_xticks([0.3, 0.5, 1, 2, 5], ["0.3", "0.5", "1", "2", "5"])
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
    main()
