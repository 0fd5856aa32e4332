"""The purification study's report: evaluation.md (the tables), evaluation.csv (one line per
figure) and evaluation.png (a bar chart drawn with PIL), from the rows of an Evaluation."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from . import defences as D
from .defences.survival import settings_of


@dataclass(frozen=True)
class Accuracy:
    setting: str
    key: str  # the rows' key ("fgsm+jpeg-50")
    images: int
    top1: float
    top3: float
    study: tuple[int, int] | None


@dataclass(frozen=True)
class Survival:
    mode: str
    level: str
    images: int
    success: float  # the saved PNG's verified success (no purifier), %
    psnr: float  # median dB
    seconds: float  # median per image
    steps: float  # median
    held: dict[str, tuple[int, float]]  # setting -> (images, % whose target holds)


# The purification study's own figures (Inception-v1, FGSM eps 16, 100 ImageNet images:
# top-1 / top-3, %), printed beside ours.
STUDY = {
    "clean": (63, 79), "fgsm": (12, 25), "ppgn": (18, 33), "dip": (30, 58),
    "context-encoder": (14, 25), "rescale": (36, 54),
}


def _mean_pct(values: list) -> float:
    return 100 * float(np.mean(values)) if values else float("nan")


def accuracy_rows(ev: Any, rows: list[dict]) -> list[Accuracy]:
    def acc(name: str, key: str, study: tuple[int, int] | None) -> Accuracy:
        vals = [r[key] for r in rows if key in r]
        return Accuracy(name, key, len(vals), _mean_pct([v[0] for v in vals]), _mean_pct([v[1] for v in vals]), study)

    table = [acc("clean", "clean", STUDY["clean"]), acc("FGSM eps=16/255", "fgsm", STUDY["fgsm"])]
    for d in settings_of(ev.defences):
        table.append(acc(f"FGSM + {d.short}", f"fgsm+{d.short}", STUDY.get(d.name)))
    for name in D.UNAVAILABLE:
        table.append(Accuracy(f"FGSM + {name}", "", 0, float("nan"), float("nan"), STUDY.get(name)))
    return table


def survival_rows(ev: Any, rows: list[dict]) -> list[Survival]:
    out = []
    for mode in ev.modes:
        subset = [r for r in rows if f"{mode}:none" in r]
        if not subset:
            continue
        for level in ev.levels:
            held = {}
            for d in settings_of(ev.defences):
                vals = [r[f"{mode}:{level}:{d.short}"] for r in subset if f"{mode}:{level}:{d.short}" in r]
                if vals:
                    held[d.short] = (len(vals), _mean_pct(vals))
            out.append(Survival(mode, level, len(subset), _mean_pct([r[f"{mode}:none"] for r in subset]),
                                float(np.median([r[f"{mode}:psnr"] for r in subset])),
                                float(np.median([r[f"{mode}:seconds"] for r in subset])),
                                float(np.median([r[f"{mode}:steps"] for r in subset])), held))
    return out


def write_report(ev: Any, rows: list[dict], command: str = "") -> Any:
    accuracy, survival = accuracy_rows(ev, rows), survival_rows(ev, rows)
    _write_csv(ev, accuracy, survival)
    _write_chart(ev, accuracy, survival)
    return _write_markdown(ev, rows, accuracy, survival, command)


def _write_csv(ev: Any, accuracy: list[Accuracy], survival: list[Survival]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["kind", "mode", "level", "setting", "images", "top1_or_held_pct", "top3_pct", "study_top1",
                "study_top3", "median_psnr_db", "median_seconds"])
    for a in accuracy:
        w.writerow(["accuracy", "fgsm", "view", a.setting, a.images, f"{a.top1:.1f}", f"{a.top3:.1f}",
                    *(a.study or ("", ""))])
    for s in survival:
        w.writerow(["targeted", s.mode, "", "none", s.images, f"{s.success:.1f}", "", "", "", f"{s.psnr:.2f}",
                    f"{s.seconds:.2f}"])
        for name, (n, pct) in s.held.items():
            w.writerow(["targeted", s.mode, s.level, name, n, f"{pct:.1f}", "", "", "", "", ""])
    (ev.out_dir / "evaluation.csv").write_text(buf.getvalue())


def _write_markdown(ev: Any, rows: list[dict], accuracy: list[Accuracy], survival: list[Survival],
                    command: str) -> Any:
    lines = [f"Model: {ev.model.name}; {len(rows)} of {len(ev.items)} images evaluated, seed {ev.seed}.", ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    lines += ["Accuracy (true label) on the model's 224-px view: clean, untargeted FGSM, FGSM then each purifier",
              "", "| setting | images | top-1 | top-3 | study (Inception-v1) top-1 / top-3 |", "|---|---|---|---|---|"]
    for a in accuracy:
        ours = f"{a.top1:.0f}% | {a.top3:.0f}%" if a.images else (
            "not available | —" if not a.key else "not run (--dip-n) | —")
        ref = f"{a.study[0]}% / {a.study[1]}%" if a.study else "—"
        lines.append(f"| {a.setting} | {a.images} | {ours} | {ref} |")
    names = [d.short for d in settings_of(ev.defences)]
    lines += ["", "Targeted attacks (random target per image), the saved PNG re-read: share of images whose target "
              "holds after each real purifier, applied to the file at its own size (file) or to the model's view "
              "(view)", "",
              "| attack | level | images | saved file | median PSNR | median s | median steps | "
              + " | ".join(names) + " |", "|---" * (7 + len(names)) + "|"]
    for s in survival:
        cells = []
        for name in names:
            n, pct = s.held.get(name, (0, float("nan")))
            cells.append("—" if n == 0 else f"{pct:.0f}%" + ("" if n == s.images else f" (n={n})"))
        lines.append(f"| guiapp {s.mode} | {s.level} | {s.images} | {s.success:.0f}% | {s.psnr:.1f} dB | "
                     f"{s.seconds:.1f} | {s.steps:.0f} | " + " | ".join(cells) + " |")
    lines += ["", "Purifier settings: " + "; ".join(f"{d.short} = {d.label}" for d in settings_of(ev.defences))]
    path = ev.out_dir / "evaluation.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _write_chart(ev: Any, accuracy: list[Accuracy], survival: list[Survival]) -> None:
    """A plain bar chart drawn with PIL (the engine stays free of plotting stacks)."""
    bars = [(a.setting, a.top1, "#4c8bf5") for a in accuracy if a.images]
    for s in survival:
        colour = "#34a853" if s.level == "file" else "#fbbc04"
        bars += [(f"{s.mode} {s.level} / {name}", pct, colour) for name, (_, pct) in s.held.items()]
    w, row_h, left = 900, 20, 300
    img = Image.new("RGB", (w, 40 + row_h * len(bars)), "white")
    draw = ImageDraw.Draw(img)
    draw.text((10, 10), f"{ev.model.name}: top-1 under FGSM (blue); targets surviving, file (green) / view "
                        f"(yellow) level (%)", fill="black")
    for i, (label, value, colour) in enumerate(bars):
        y = 36 + i * row_h
        draw.text((10, y + 4), label[:44], fill="black")
        length = 0 if np.isnan(value) else int((w - left - 60) * value / 100)
        draw.rectangle([left, y + 3, left + length, y + row_h - 3], fill=colour)
        draw.text((left + length + 6, y + 4), f"{value:.0f}%", fill="black")
    img.save(ev.out_dir / "evaluation.png")
