"""The purification study, redone for our model: does a defence undo adversarial noise?

For n seeded images with known labels (file names `<wnid>_...` or an ImageFolder tree):
- top-1/top-3 accuracy of the model on the clean image, under untargeted FGSM at
  eps 16/255 (as in the study), and after each defence applied to the FGSM image;
- for guiapp's targeted attack (defaults, and the robust mode), whether the saved
  image's target holds before and after each defence.
All images are the model's 224-px view (`defences.model_view`), as in the study.
Per-image results go to `rows.jsonl` as they are made, so an interrupted run resumes.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from . import defences as D
from .attacks import make_config
from .centroids import find_class_images
from .errors import Cancelled, GuiappError
from .imageio import load_image
from .labels import random_target
from .metrics import psnr_from_mse
from .models import Classifier
from .pipeline import AttackRun, plan_attack
from .predict import classify_view
from .preprocess import image_to_tensor, normalise, tensor_to_image

STUDY = {  # Inception-v1, FGSM eps 16, 100 ImageNet images: top-1 / top-3 (%)
    "clean": (63, 79), "fgsm": (12, 25), "ppgn": (18, 33), "dip": (30, 58),
    "context-encoder": (14, 25), "rescale": (36, 54),
}


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


@dataclass(frozen=True)
class EvalProgress:
    done: int
    total: int
    file: str
    stage: str


class Evaluation:
    def __init__(self, model: Classifier, images: str | Path, out_dir: str | Path, n: int = 100, seed: int = 0,
                 defences: list[D.Defence] | None = None, dip_n: int | None = None,
                 modes: tuple[str, ...] = ("default", "robust")) -> None:
        self.model, self.out_dir, self.seed = model, Path(out_dir), seed
        self.defences = defences if defences is not None else [d for k, d in D.DEFENCES.items()]
        self.dip_n, self.modes = dip_n, modes
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

    def _done_rows(self) -> dict[str, dict]:
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
        done = self._done_rows()
        total = len(self.items)
        with self.rows_path.open("a") as fh:
            for k, (path, label) in enumerate(self.items):
                if self._cancel.is_set():
                    raise Cancelled("evaluation cancelled; run the same command again to resume")
                if path.name in done:
                    yield EvalProgress(k + 1, total, path.name, "done earlier")
                    continue
                with_dip = self.dip_n is None or k < self.dip_n
                row = self._evaluate_one(path, label, with_dip)
                fh.write(json.dumps(row) + "\n")
                fh.flush()
                yield EvalProgress(k + 1, total, path.name, "evaluated")

    def _defences_for(self, with_dip: bool) -> list[D.Defence]:
        return [d for d in self.defences if with_dip or d.name != "dip"]

    def _evaluate_one(self, path: Path, label: int, with_dip: bool) -> dict:
        m = self.model
        loaded = load_image(path)
        image = loaded.rgb
        view = D.model_view(image, m.spec)
        row: dict = {"file": path.name, "label": label, "dip": with_dip}
        row["clean"] = _topk_hit(classify_view(m, view), label)
        adv = fgsm_view(m, view, label)
        row["fgsm"] = _topk_hit(classify_view(m, adv), label)
        for d in self._defences_for(with_dip):
            row[f"fgsm+{d.name}"] = _topk_hit(classify_view(m, d(adv)), label)
        # guiapp's targeted attack, on the full image, judged on the 8-bit result's view.
        source = int(classify_view(m, view).argmax())
        target = random_target(path.name, self.seed, source, m.num_classes)
        row["target"] = target
        for mode in self.modes:
            run = AttackRun(plan_attack(loaded, target, config=make_config(mode), model=m, centroids=None))
            for _ in run.steps():
                if self._cancel.is_set():
                    run.cancel()
            result = run.result
            out_view = D.model_view(result.adversarial, m.spec)
            diff = result.adversarial.astype(np.float64) - image
            row[f"{mode}:psnr"] = psnr_from_mse(float(np.mean(diff**2)))
            row[f"{mode}:none"] = bool(result.success)
            for d in self._defences_for(with_dip):
                row[f"{mode}:{d.name}"] = bool(result.success) and int(classify_view(m, d(out_view)).argmax()) == target
        return row

    # --- the report --------------------------------------------------------------------
    def write_report(self, command: str = "") -> Path:
        rows = [self._done_rows()[p.name] for p, _ in self.items if p.name in self._done_rows()]
        if not rows:
            raise GuiappError("no evaluated images yet")
        names = [d.name for d in self.defences]
        table: list[tuple[str, int, float, float, tuple[int, int] | None]] = []  # setting, n, top1, top3, study

        def acc(key: str, subset: list[dict]) -> tuple[float, float]:
            vals = [r[key] for r in subset if key in r]
            if not vals:
                return (np.nan, np.nan)
            return (100 * np.mean([v[0] for v in vals]), 100 * np.mean([v[1] for v in vals]))

        table.append(("clean", len(rows), *acc("clean", rows), STUDY["clean"]))
        table.append(("FGSM eps=16/255", len(rows), *acc("fgsm", rows), STUDY["fgsm"]))
        for name in names:
            subset = [r for r in rows if f"fgsm+{name}" in r]
            table.append((f"FGSM + {name}", len(subset), *acc(f"fgsm+{name}", subset), STUDY.get(name)))
        for name, _why in D.UNAVAILABLE.items():
            table.append((f"FGSM + {name}", 0, np.nan, np.nan, STUDY.get(name)))

        targeted = []  # (mode, defence, n, success %)
        for mode in self.modes:
            for name in ["none", *names]:
                subset = [r for r in rows if f"{mode}:{name}" in r]
                if subset:
                    targeted.append((mode, name, len(subset), 100 * np.mean([r[f"{mode}:{name}"] for r in subset]),
                                     float(np.median([r[f"{mode}:psnr"] for r in subset]))))
        self._write_csv(table, targeted)
        self._write_chart(table, targeted)
        return self._write_markdown(table, targeted, command)

    def _write_csv(self, table, targeted) -> None:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["kind", "setting", "images", "top1_or_success_pct", "top3_pct", "study_top1", "study_top3"])
        for setting, n, t1, t3, study in table:
            w.writerow(["accuracy", setting, n, f"{t1:.1f}", f"{t3:.1f}", *(study or ("", ""))])
        for mode, name, n, success, _ in targeted:
            w.writerow(["targeted", f"{mode} + {name}", n, f"{success:.1f}", "", "", ""])
        (self.out_dir / "evaluation.csv").write_text(buf.getvalue())

    def _write_markdown(self, table, targeted, command: str) -> Path:
        lines = [f"Model: {self.model.name}; {len(self.items)} images, seed {self.seed}.", ""]
        if command:
            lines += [f"Command: `{command}`", ""]
        lines += ["| setting | images | top-1 | top-3 | study (Inception-v1) top-1 / top-3 |", "|---|---|---|---|---|"]
        for setting, n, t1, t3, study in table:
            ours = "not available | —" if n == 0 else f"{t1:.0f}% | {t3:.0f}%"
            ref = f"{study[0]}% / {study[1]}%" if study else "—"
            lines.append(f"| {setting} | {n} | {ours} | {ref} |")
        lines += ["", "Targeted attack (random target per image): share of images whose target holds",
                  "", "| attack | defence | images | target holds | median PSNR |", "|---|---|---|---|---|"]
        for mode, name, n, success, psnr in targeted:
            lines.append(f"| guiapp {mode} | {name} | {n} | {success:.0f}% | {psnr:.1f} dB |")
        path = self.out_dir / "evaluation.md"
        path.write_text("\n".join(lines) + "\n")
        return path

    def _write_chart(self, table, targeted) -> None:
        """A plain bar chart drawn with PIL (the engine stays free of plotting stacks)."""
        bars = [(s, t1) for s, n, t1, _, _ in table if n] + [
            (f"{mode} target / {name}", v) for mode, name, n, v, _ in targeted]
        w, row_h, left = 900, 22, 300
        img = Image.new("RGB", (w, 40 + row_h * len(bars)), "white")
        draw = ImageDraw.Draw(img)
        draw.text((10, 10), f"{self.model.name}: top-1 accuracy (FGSM rows) and targeted success (%)", fill="black")
        for i, (label, value) in enumerate(bars):
            y = 36 + i * row_h
            draw.text((10, y + 4), label[:44], fill="black")
            length = 0 if np.isnan(value) else int((w - left - 60) * value / 100)
            colour = "#4c8bf5" if "target" not in label else "#34a853"
            draw.rectangle([left, y + 3, left + length, y + row_h - 3], fill=colour)
            draw.text((left + length + 6, y + 4), f"{value:.0f}%", fill="black")
        img.save(self.out_dir / "evaluation.png")
