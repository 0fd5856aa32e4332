"""The purification study, redone for our model: does a defence undo adversarial noise?

For n seeded images with known labels (file names `<wnid>_...` or an ImageFolder tree):
- top-1/top-3 accuracy of the model on the clean image, under untargeted FGSM at
  eps 16/255 (as in the study), and after each defence setting applied to the FGSM image
  (the model's 224-px view, the study's protocol);
- for guiapp's targeted attack (the modes asked for: default, robust, robust+dip...), the
  saved PNG re-read from disk: does its target hold (the verified success), and after
  each real defence setting, applied to the file at its own size and to the model's view
  (guiapp.core.defences.survival)? With PSNR, steps and seconds per image.
Per-image results go to `rows.jsonl` as they are made, so an interrupted run resumes; the
report (evaluation.md, .csv, .png) is written by guiapp.core.evaluation_report.
"""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import defences as D
from .attacks import make_config
from .centroids import find_class_images
from .defences.survival import settings_of, survival
from .errors import Cancelled, GuiappError
from .evaluation_report import write_report
from .imageio import load_image
from .labels import random_target
from .metrics import psnr_from_mse
from .models import Classifier
from .pipeline import AttackRun, plan_attack
from .predict import classify_view
from .preprocess import image_to_tensor, normalise, tensor_to_image
from .saved_result import save_result


def fgsm_view(model: Classifier, view: np.ndarray, label: int, eps: float = 16.0) -> np.ndarray:
    """Untargeted FGSM on the 8-bit model view: x + eps * sign(grad CE(true label))."""
    x = image_to_tensor(view, model.device).requires_grad_(True)
    logits = model.head(model.features(normalise(x, model.spec)))
    loss = F.cross_entropy(logits, torch.tensor([label], device=x.device))
    grad, = torch.autograd.grad(loss, x)
    adv = (x + eps / 255 * grad.sign()).clamp(0, 1)
    return tensor_to_image(adv)


def _topk_hit(probs: torch.Tensor, label: int) -> tuple[bool, bool]:
    top = probs.topk(3).indices.tolist()
    return top[0] == label, label in top


def mode_config(spec: str) -> object:
    """'default', 'robust', or 'robust+dip' (robust mode, its default list plus dip)."""
    mode, *extra = spec.split("+")
    if not extra:
        return make_config(mode)
    from .attacks.robust import DEFAULT_DEFENCES

    if mode != "robust":
        raise GuiappError(f"{spec!r}: only the robust mode takes extra defences (robust+dip)")
    return make_config(mode, defences=(*DEFAULT_DEFENCES, *extra))


@dataclass(frozen=True)
class EvalProgress:
    done: int
    total: int
    file: str
    stage: str


class Evaluation:
    """`defences`: the purifiers to test (each at every checked setting); `dip_n`: run the
    slow ones (Deep Image Prior) on the first n images only; `modes`: guiapp's attacks to
    test (mode_config); `levels`: where the purifiers are applied to their results (each
    only where it is checked: Deep Image Prior on the view, a whole file costs minutes)."""

    def __init__(self, model: Classifier, images: str | Path, out_dir: str | Path, n: int = 100, seed: int = 0,
                 defences: list[D.Defence] | None = None, dip_n: int | None = None,
                 modes: tuple[str, ...] = ("default", "robust"), levels: tuple[str, ...] = D.LEVELS,
                 keep_images: bool = False) -> None:
        self.model, self.out_dir, self.seed = model, Path(out_dir), seed
        self.defences = defences if defences is not None else [D.DEFENCES[k] for k in D.available()]
        self.dip_n, self.modes, self.levels = dip_n, modes, levels
        self.keep_images = keep_images
        self.configs = {m: mode_config(m) for m in modes}  # a bad mode fails before the first image
        per_class = find_class_images(images, model)
        pairs = sorted((p, c) for c, ps in per_class.items() for p in ps)
        rng = np.random.default_rng(seed)
        picks = sorted(rng.choice(len(pairs), size=min(n, len(pairs)), replace=False))
        self.items = [pairs[i] for i in picks]
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def rows_path(self) -> Path:
        return self.out_dir / "rows.jsonl"

    def done_rows(self) -> dict[str, dict]:
        if not self.rows_path.exists():
            return {}
        rows = {}
        for line in self.rows_path.read_text().splitlines():
            try:
                row = json.loads(line)
                rows[row["file"]] = row
            except (ValueError, KeyError):
                continue  # a line cut by an interruption
        return rows

    def run(self) -> Iterator[EvalProgress]:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        done = self.done_rows()
        total = len(self.items)
        with self.rows_path.open("a") as fh:
            for k, (path, label) in enumerate(self.items):
                if self._cancel.is_set():
                    raise Cancelled("evaluation cancelled; run the same command again to resume")
                if path.name in done:
                    yield EvalProgress(k + 1, total, path.name, "done earlier")
                    continue
                with_slow = self.dip_n is None or k < self.dip_n
                row = self._evaluate_one(path, label, with_slow)
                fh.write(json.dumps(row) + "\n")
                fh.flush()
                yield EvalProgress(k + 1, total, path.name, "evaluated")

    def defences_for(self, with_slow: bool) -> list[D.Defence]:
        return [d for d in self.defences if with_slow or not d.slow]

    def _evaluate_one(self, path: Path, label: int, with_slow: bool) -> dict:
        m = self.model
        loaded = load_image(path)
        image = loaded.rgb
        view = D.model_view(image, m.spec)
        row: dict = {"file": path.name, "label": label, "dip": with_slow}
        row["clean"] = _topk_hit(classify_view(m, view), label)
        adv = fgsm_view(m, view, label)
        row["fgsm"] = _topk_hit(classify_view(m, adv), label)
        defences = self.defences_for(with_slow)
        for d in settings_of(defences):
            row[f"fgsm+{d.short}"] = _topk_hit(classify_view(m, d(adv)), label)
        # guiapp's targeted attacks, on the full image; the saved PNG re-read and purified.
        source = int(classify_view(m, view).argmax())
        target = random_target(path.name, self.seed, source, m.num_classes)
        row["target"] = target
        for mode, config in self.configs.items():
            plan = plan_attack(loaded, target, config=config, model=m, centroids=None)
            run = AttackRun(plan)
            for _ in run.steps():
                if self._cancel.is_set():
                    run.cancel()
            if run.cancelled:
                raise Cancelled("evaluation cancelled; run the same command again to resume")
            saved_rgb, verified = self._save_and_reread(plan, run, path, mode)
            row[f"{mode}:psnr"] = psnr_from_mse(float(np.mean((saved_rgb.astype(np.float64) - image) ** 2)))
            row[f"{mode}:seconds"] = run.seconds
            row[f"{mode}:steps"] = run.result.steps
            row[f"{mode}:none"] = verified
            # Each purifier at each level it is checked at (DIP: the view only).
            found = survival(m, saved_rgb, target, defences, levels=self.levels)
            row.update({f"{mode}:{k}": v and verified for k, v in found.items()})
        return row

    def _save_and_reread(self, plan, run: AttackRun, path: Path, mode: str) -> tuple[np.ndarray, bool]:
        """Save the result as the pipeline does, re-read the PNG: (its pixels, verified success)."""
        if self.keep_images:
            folder = self.out_dir / "images" / mode
            folder.mkdir(parents=True, exist_ok=True)
            verified = save_result(plan, run.result, folder / f"{path.stem}.png")
            return load_image(verified.path).rgb, verified.success
        with tempfile.TemporaryDirectory() as tmp:
            verified = save_result(plan, run.result, Path(tmp) / f"{path.stem}.png")
            return load_image(verified.path).rgb, verified.success

    def write_report(self, command: str = "") -> Path:

        rows = [r for p, _ in self.items if (r := self.done_rows().get(p.name))]
        if not rows:
            raise GuiappError("no evaluated images yet")
        return write_report(self, rows, command)

