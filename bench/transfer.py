"""Targeted transfer: crafted on surrogates, judged on a model the attack never touched.

    pip install -e '.[bench]'        # torchattacks and the Lite2 judge weights
    python bench/transfer.py --n 100 --seed 0 --eps 16 --rows ours,ours-nocentroid,ours-ce,mi,di,ti,vmi
    python bench/transfer.py --half held --n 100 --rows quiet,quiet-nocentroid,ours --no-shrink-curve

Rows: "ours*" are the loud preset (the published recipe, L-inf --eps) with one switch
changed; "quiet*" are the transfer default (the perceptual budget; --eps is ignored) with
one switch changed; mi/di/ti/vmi are torchattacks on the same ensemble. --half tune|held
takes the pairs from one half of ../shared/imagenet-samples (class index even: tuning,
odd: held back; bench/common.py), the split the quiet default was chosen on.

Same (image, random target) pairs from ../shared/imagenet-samples for every row, same
surrogate ensemble (EfficientNet-Lite0 + Lite1, each through its own preprocessing, on the
image at its native resolution), same L-inf budget. Each result is rounded to 8 bits,
saved as PNG, re-read, and judged by EfficientNet-Lite2 through its own standard PIL
preprocessing at its native 260 px (shorter side 297, centre crop 260), and again fed the
whole photo squashed to 260x260 (a service whose preprocessing is unknown). Lite2 is loaded
by this script only, after each attack, never by the attack.

Besides the final verdicts, every "ours" row records two curves from the same run:
- success on Lite2 after 25, 50, 100, 200... iterations (the time/transfer trade);
- success on Lite2 and PSNR after shrinking the final noise until each surrogate keeps a
  target margin of m logits, for several m (the invisibility/transfer trade).
Rows are resumable: per-image results go to OUT/<row>-eps<E>.jsonl as they are made.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from guiapp.core import AttackRun, load_model, make_config, plan_attack  # noqa: E402
from guiapp.core.attacks import strategy_of  # noqa: E402
from guiapp.core.attacks.transfer_ops import shrink_noise  # noqa: E402
from guiapp.core.imageio import LoadedImage, load_image  # noqa: E402
from guiapp.core.metrics import distortion  # noqa: E402
from guiapp.core.png_output import save_png  # noqa: E402
from guiapp.core.predict import classify_pil  # noqa: E402
from guiapp.core.preprocess import image_to_tensor, normalise, tensor_to_image  # noqa: E402

from common import DEFAULT_IMAGES, machine, pct, sample_images  # noqa: E402

JUDGE = "efficientnet-lite2"
CHECKPOINTS = (10, 25, 50, 100, 150, 200, 300, 400, 500)
SHRINK_MARGINS = (0.0, 2.0, 5.0, 10.0, 20.0)

# Quiet rows: name -> overrides of the transfer default (the perceptual budget).
QUIET = {
    "quiet": {},
    "quiet-nocentroid": {"centroid_weight": 0.0},
    "quiet-noviews": {"p_full": 0.0, "p_rrc": 0.0, "zoom_max": 1.0},  # every surrogate: its centre crop
    "quiet-nozoom": {"zoom_max": 1.0},
    "quiet-norrc": {"p_rrc": 0.0},
    "quiet-100": {"iterations": 100},
    "quiet-f32": {"precision": "float32"},
    "quiet-bf16": {"precision": "bfloat16"},
}
# Loud rows: name -> overrides of the loud preset (the published recipe) at --eps.
OURS = {
    "ours": {},
    "ours-nocentroid": {"centroid_weight": 0.0},
    "ours-ce": {"loss": "ce"},
    "ours-nomi": {"momentum": 0.0},
    "ours-nodi": {"diversity": 0.0},
    "ours-noti": {"ti_kernel": 0},
    "ours-lite0": {"surrogates": ("efficientnet-lite0",)},
}
PEERS = ("mi", "di", "ti", "vmi")


class Ensemble(torch.nn.Module):
    """[0,1] image at any size -> mean logits of the surrogates, each through its own
    differentiable preprocessing: what torchattacks attacks."""

    def __init__(self, surrogates) -> None:
        super().__init__()
        self.surrogates = surrogates

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m.logits(x) for m in self.surrogates]).mean(0)


def torchattacks_row(name: str, ensemble: Ensemble, eps: float, iterations: int):
    """torchattacks' targeted attack `name`, at its own defaults except budget, step and steps."""
    import torchattacks

    alpha = eps / 8 / 255
    common = {"eps": eps / 255, "alpha": alpha, "steps": iterations}
    atk = {
        "mi": lambda: torchattacks.MIFGSM(ensemble, decay=1.0, **common),
        "di": lambda: torchattacks.DIFGSM(ensemble, decay=0.0, **common),
        "ti": lambda: torchattacks.TIFGSM(ensemble, decay=0.0, **common),
        "vmi": lambda: torchattacks.VMIFGSM(ensemble, **common),
    }[name]()
    atk.set_mode_targeted_by_label(quiet=True)

    def attack(image: LoadedImage, target: int, on_checkpoint) -> tuple[np.ndarray, list]:
        x = image_to_tensor(image.rgb)
        adv = atk(x, torch.tensor([target]))
        return tensor_to_image(adv), ensemble.surrogates

    return attack


def ours_row(overrides: dict, eps: float, iterations: int | None, centroids_dir, quiet: bool = False):
    """guiapp's transfer mode through its public API: make_config -> plan_attack -> AttackRun
    (the calls attack_file makes; this script saves and judges the result itself)."""
    loud = {} if quiet else {"preset": "loud", "eps": eps}
    config = make_config("transfer", **loud, **({"iterations": iterations} if iterations else {}), **overrides)

    def attack(image: LoadedImage, target: int, on_checkpoint) -> tuple[np.ndarray, list]:
        plan = plan_attack(image, target, config=config, device="cpu", centroids=centroids_dir or "auto")
        run = AttackRun(plan)
        for record in run.steps():
            if record.step in CHECKPOINTS and record.step < config.iterations:
                on_checkpoint(record.step, run.current_image())
        return run.result.adversarial, plan.crafters

    return attack, config


def judge(judge_model, surrogates, original: np.ndarray, adv: np.ndarray, target: int) -> dict:
    """Save as PNG, re-read, classify with the judge and the surrogates (PIL paths)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = save_png(Path(tmp) / "adv.png", adv)
        back = load_image(path).rgb
    probs = classify_pil(judge_model, Image.fromarray(back))
    dist = distortion(original, back)
    side = judge_model.spec.crop  # the whole photo squashed to the judge's input, no crop
    whole = np.asarray(Image.fromarray(back).resize((side, side), Image.BILINEAR))  # as bench/quiet did
    with torch.no_grad():
        full = judge_model.head(judge_model.features(normalise(image_to_tensor(whole), judge_model.spec)))[0]
    return {
        "judge_top1": int(probs.argmax()),
        "judge_target_conf": float(probs[target]),
        "judge_success": int(probs.argmax()) == target,
        "judge_full_success": int(full.argmax()) == target,
        "ciede2000": dist.ciede2000,
        "haarpsi": dist.haarpsi,
        "surrogate_success": all(int(classify_pil(m, Image.fromarray(back)).argmax()) == target for m in surrogates),
        "psnr": dist.psnr,
        "ssim": dist.ssim,
        "linf": dist.linf,
    }


def shrink_curve(judge_model, surrogates, original: np.ndarray, adv: np.ndarray, target: int) -> dict:
    """Judge verdict and PSNR after shrinking the noise to each margin of SHRINK_MARGINS."""
    x = image_to_tensor(original)
    delta = image_to_tensor(adv) - x
    curve = {}
    for margin in SHRINK_MARGINS:
        kept = None
        for _, _, _, best in shrink_noise(surrogates, x, delta, [target] * len(surrogates), margin):
            kept = best
        img = tensor_to_image(kept)
        probs = classify_pil(judge_model, Image.fromarray(img))
        d = distortion(original, img, with_ssim=False)
        curve[str(margin)] = {"judge_success": int(probs.argmax()) == target, "psnr": d.psnr}
    return curve


def summarise(rows: list[dict]) -> dict:
    ok = [r for r in rows if "judge_success" in r]
    out = {
        "n": len(ok),
        "surrogate_success": float(np.mean([r["surrogate_success"] for r in ok])) if ok else float("nan"),
        "judge_success": float(np.mean([r["judge_success"] for r in ok])) if ok else float("nan"),
        "judge_full_success": float(np.mean([r.get("judge_full_success", np.nan) for r in ok])) if ok else
        float("nan"),
        "psnr_median": pct([r["psnr"] for r in ok], 50),
        "ssim_median": pct([r["ssim"] for r in ok], 50),
        "ciede2000_median": pct([r.get("ciede2000", np.nan) for r in ok], 50),
        "haarpsi_median": pct([r.get("haarpsi", np.nan) for r in ok], 50),
        "seconds_median": pct([r["seconds"] for r in ok], 50),
    }
    if ok and "checkpoints" in ok[0]:
        out["checkpoints"] = {
            k: float(np.mean([r["checkpoints"][k] for r in ok if k in r["checkpoints"]]))
            for k in ok[0]["checkpoints"]
        }
    shrunk = [r for r in ok if "shrink" in r]  # rows resumed across --no-shrink-curve runs may lack it
    if shrunk:
        out["shrink"] = {
            m: {
                "n": len(shrunk),
                "judge_success": float(np.mean([r["shrink"][m]["judge_success"] for r in shrunk])),
                "psnr_median": pct([r["shrink"][m]["psnr"] for r in shrunk], 50),
            }
            for m in shrunk[0]["shrink"]
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None,
                    help="run only the first LIMIT of the n pairs (ablations on a subset of the same pairs)")
    ap.add_argument("--eps", type=float, default=16.0)
    ap.add_argument("--iterations", type=int, default=None, help="default: each row's own")
    ap.add_argument("--half", choices=("tune", "held"), default=None,
                    help="pairs from one half of the samples (bench/common.py) instead of --seed's sample")
    ap.add_argument("--rows", default="ours",
                    help=f"comma list of: {', '.join([*QUIET, *OURS, *PEERS])}, or variants")
    ap.add_argument("--variant", nargs="+", action="append", default=[], metavar="NAME KEY=VALUE",
                    help="an extra 'ours' row: NAME key=value ... (TransferConfig fields)")
    ap.add_argument("--out", type=Path, default=Path("bench/out/transfer"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--save-images", action="store_true",
                    help="keep each row's adversarial PNGs in OUT/images/<row>-eps<E>/ (for later analysis)")
    ap.add_argument("--side", type=int, default=None,
                    help="resize every image to SIDE x SIDE first (speed at a fixed size, e.g. 224)")
    ap.add_argument("--no-shrink-curve", action="store_true",
                    help="skip the shrink curve (it adds about half an attack's time per image)")
    ap.add_argument("--centroids-dir", type=Path, default=None,
                    help="folder of <model>.npz centroid files (default: the shipped ones)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    iterations = args.iterations or make_config("transfer", preset="loud").iterations  # the peers' steps

    variants = {**OURS, **QUIET}
    for spec in args.variant:
        overrides = {}
        for kv in spec[1:]:
            key, _, value = kv.partition("=")
            overrides[key] = json.loads(value) if value[:1] in "[{0123456789-.tfn" else value
        variants[spec[0]] = overrides
    rows = [r.strip() for r in args.rows.split(",") if r.strip()] + [spec[0] for spec in args.variant]

    if args.half:
        from common import half_pairs

        pairs = half_pairs(args.half, args.n, folder=args.images)[: args.limit]
    else:
        pairs = sample_images(args.images, args.n, args.seed)[: args.limit]
    base = make_config("transfer")
    judge_model = load_model(JUDGE, "cpu")
    assert JUDGE not in base.surrogates
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"# {machine()}; {len(pairs)} pairs{f' ({args.half} half)' if args.half else ''}, loud rows at eps "
          f"{args.eps:g}/255", flush=True)

    summaries = {}
    for row in rows:
        log = args.out / f"{row}-eps{args.eps:g}.jsonl"
        done = {}
        if log.exists():
            for line in log.read_text().splitlines():
                r = json.loads(line)
                done[r["file"]] = r
        if row in PEERS:  # the default surrogates, loaded (or taken from the model cache) as the mode loads them
            surrogates = strategy_of(base).load_crafters(base, "efficientnet-lite0", "cpu", None)
            attack = torchattacks_row(row, Ensemble(surrogates), args.eps, iterations)
            config = None
        else:
            attack, config = ours_row(variants[row], args.eps, args.iterations, args.centroids_dir,
                                      quiet=row.startswith("quiet"))
        with log.open("a") as fh:
            for path, true, target in pairs:
                if path.name in done:
                    continue
                image = load_image(path)
                if args.side:
                    image = replace(image, rgb=np.asarray(image.to_pil().resize((args.side, args.side),
                                                                                Image.BICUBIC)))
                img = image.rgb
                checkpoints: dict[str, bool] = {}

                def on_checkpoint(step: int, image: np.ndarray,
                                  checkpoints: dict[str, bool] = checkpoints, target: int = target) -> None:
                    probs = classify_pil(judge_model, Image.fromarray(image))
                    checkpoints[str(step)] = int(probs.argmax()) == target

                t0 = time.perf_counter()
                adv, used = attack(image, target, on_checkpoint)
                seconds = time.perf_counter() - t0
                if args.save_images:
                    save_png(args.out / "images" / f"{row}-eps{args.eps:g}" / f"{path.stem}.png", adv)
                result = {"file": path.name, "true": true, "target": target, "seconds": seconds,
                          **judge(judge_model, used, img, adv, target)}
                if config is not None:
                    checkpoints[str(config.iterations)] = result["judge_success"]
                    result["checkpoints"] = checkpoints
                    if config.shrink_margin is None and not args.no_shrink_curve:
                        result["shrink"] = shrink_curve(judge_model, used, img, adv, target)
                fh.write(json.dumps(result) + "\n")
                fh.flush()
                done[path.name] = result
                print(f"{row} {len(done)}/{len(pairs)} {path.name[:30]:30s} judge {result['judge_success']!s:5} "
                      f"full {result['judge_full_success']!s:5} "
                      f"surr {result['surrogate_success']!s:5} psnr {result['psnr']:.1f} {seconds:.1f}s", flush=True)
        rows_here = [done[p.name] for p, _, _ in pairs if p.name in done]
        summaries[row] = summarise(rows_here)
        print(json.dumps({row: summaries[row]}), flush=True)
    (args.out / f"summary-eps{args.eps:g}.json").write_text(json.dumps(summaries, indent=1))


if __name__ == "__main__":
    main()
