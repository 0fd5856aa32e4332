"""File-level operations for scripts, the CLI and the GUI: predict a file, attack a file.

    from guiapp.core import attack_file
    report = attack_file("cat.jpg", "goldfish", "cat_goldfish.png")
    print(report.success, report.final_label, report.psnr)

`attack_file` loads the image, runs the attack, saves the PNG atomically, then re-loads
the PNG from disk and classifies it through the standard PIL preprocessing, so the
reported label is what any other program will see.
"""

from __future__ import annotations

import numbers
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .attack import AttackConfig, StepRecord, TargetedAttack, classify_pil, meets_target
from .centroids import Centroids, load_centroids, shipped_centroids
from .errors import GuiappError, LabelError
from .imageio import MAX_PIXELS, LoadedImage, check_output_path, load_image, probe_writable, save_png
from .device import pick_device
from .labels import imagenet_labels
from .memory import check_attack_memory
from .metrics import distortion
from .models import DEFAULT_MODEL, Classifier, load_model
from .transfer import TransferAttack, TransferConfig, centroid_folder, load_surrogates, surrogate_centroids

AnyConfig = AttackConfig | TransferConfig


@dataclass(frozen=True)
class Prediction:
    index: int
    name: str
    confidence: float


def predict_image(model: Classifier, image: LoadedImage | np.ndarray, k: int = 5) -> list[Prediction]:
    """Top-k of an image through the model's standard PIL preprocessing."""
    rgb = image.rgb if isinstance(image, LoadedImage) else image
    probs = classify_pil(model, Image.fromarray(rgb))
    conf, idx = probs.topk(k)
    return [Prediction(int(i), model.labels[int(i)].name, float(c)) for c, i in zip(conf, idx)]


def predict_file(
    path: str | Path,
    model: str | Classifier = DEFAULT_MODEL,
    k: int = 5,
    device: str | None = None,
    *,
    max_pixels: int = MAX_PIXELS,
) -> list[Prediction]:
    """Top-k of an image file; `max_pixels` refuses larger images before decoding them."""
    path = _as_path(path, "image")
    clf = _as_model(model, device)
    return predict_image(clf, load_image(path, max_pixels), k)


def _as_path(value: object, what: str) -> Path:
    """A clear error for a non-path argument (Path(None) would raise a bare TypeError)."""
    if isinstance(value, (str, os.PathLike)) and str(value):
        return Path(value)
    raise GuiappError(f"{what} must be a file path (str or Path), not {value!r}")


def _as_model(model: object, device: str | None, weights: str | Path | None = None) -> Classifier:
    if isinstance(model, Classifier):
        return model
    if not isinstance(model, str):
        raise GuiappError(f"model must be a model name (guiapp-cli models lists them) or a Classifier, not {model!r}")
    return load_model(model, device, weights)


def check_target(target: object) -> str | int:
    """Only a class name/synonym/WordNet id (str) or a class index (int) can name a class."""
    if isinstance(target, bool) or not isinstance(target, (str, numbers.Integral)):
        raise LabelError(
            f"target must be a class name, synonym or WordNet id (str) or a class index (int), "
            f"not {type(target).__name__} {target!r}"
        )
    return target if isinstance(target, str) else int(target)


@dataclass
class AttackReport:
    input: str
    output: str | None
    model: str
    target: int
    target_name: str
    source: int
    source_name: str
    source_conf: float
    final: int  # top-1 of the saved file re-loaded from disk
    final_name: str
    final_conf: float
    target_conf: float
    success: bool
    cancelled: bool
    linf: float
    l2: float
    psnr: float
    ssim: float
    steps: int
    seconds: float
    centroids: bool
    width: int
    height: int
    notes: list[str] = field(default_factory=list)
    mode: str = "default"
    # Other models asked for their verdict on the saved file: name -> {top1, top1_name,
    # confidence, target_conf, success}. Never used while crafting.
    judges: dict[str, dict] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def default_output_path(image_path: Path, target_name: str) -> Path:
    slug = "".join(ch if ch.isalnum() else "_" for ch in target_name.lower()).strip("_")
    return image_path.with_name(f"{image_path.stem}_adv_{slug}.png")


def resolve_centroids(model: Classifier, centroids: str | Path | Centroids | None, notes: list[str]) -> Centroids | None:
    """'auto' -> the shipped file if this model has one; a path -> that file; None -> none."""
    if isinstance(centroids, Centroids) or centroids is None:
        return centroids
    if centroids == "auto":
        found = shipped_centroids(model)
        if found is None:
            notes.append(f"no centroid file for {model.name}: attacking with the classification term only")
        return found
    return load_centroids(centroids, model)


def output_metadata(
    model: Classifier | list[Classifier], target: int, config: AnyConfig, steps: int, source: str
) -> dict[str, str]:
    """The PNG text chunks that say how an adversarial image was made (several models, as
    in transfer mode, are joined with '+')."""
    models = model if isinstance(model, list) else [model]
    return {
        "model": "+".join(m.name for m in models),
        "weights": "+".join(m.fingerprint for m in models),
        "target": f"{target} {models[0].labels[target].name}",
        "eps": str(config.eps),
        "mode": config.mode,
        "steps": str(steps),
        "source": source,
    }


def save_and_verify(
    model: Classifier,
    out: str | Path,
    rgb: np.ndarray,
    alpha: np.ndarray | None,
    metadata: dict[str, str],
    protect: list[Path],
    icc_profile: bytes | None = None,
) -> tuple[Path, torch.Tensor]:
    """Save the PNG atomically, then read it back from disk and classify it the way any
    other program would (the proof that the noise survived saving). Returns the path and
    the class probabilities of the re-read file."""
    saved = save_png(out, rgb, alpha, metadata, protect=protect, icc_profile=icc_profile)
    # The file is ours and as large as the image in memory: the size guard must not refuse
    # it when the user raised the limit to open a larger input.
    limit = max(MAX_PIXELS, rgb.shape[0] * rgb.shape[1])
    return saved, classify_pil(model, Image.fromarray(load_image(saved, limit).rgb))


def crafting_identity(model: Classifier, config: AnyConfig) -> tuple[str, str]:
    """(model names, weight fingerprints) of what an attack with `config` crafts on, joined
    with '+' as the PNG metadata writes them: `model`, or the transfer surrogates."""
    models = load_surrogates(config, model.device) if isinstance(config, TransferConfig) else [model]
    return "+".join(m.name for m in models), "+".join(m.fingerprint for m in models)


def classify_saved(models: list[Classifier], path: str | Path, max_pixels: int = MAX_PIXELS) -> list[torch.Tensor]:
    """Re-read a saved file from disk and classify it through each model's PIL path
    (`max_pixels`: the limit its input was read with, so a file made from it is re-read)."""
    image = Image.fromarray(load_image(path, max_pixels).rgb)
    return [classify_pil(m, image) for m in models]


def judge_verdicts(
    judges: list[str | Classifier], path: Path, target: int, device: str | None, max_pixels: int = MAX_PIXELS
) -> dict[str, dict]:
    """Ask models that took no part in crafting what they see in the saved file."""
    verdicts = {}
    for judge in judges:
        clf = _as_model(judge, device)
        probs = classify_saved([clf], path, max_pixels)[0]
        top1 = int(probs.argmax())
        verdicts[clf.name] = {
            "top1": top1,
            "top1_name": clf.labels[top1].name,
            "confidence": float(probs[top1]),
            "target_conf": float(probs[target]),
            "success": top1 == target,
        }
    return verdicts


@dataclass
class _Crafting:
    """What one attack crafts with: the attack object, the models that must see the target
    in the saved file (the attacked model, or every surrogate), and whether centroids are used."""

    attack: TargetedAttack | TransferAttack
    verifiers: list[Classifier]
    confidence: float
    centroids: bool


def _crafting(
    config: AnyConfig,
    model: str | Classifier,
    device: str | None,
    weights: str | Path | None,
    image: np.ndarray,
    target: int,
    centroids: str | Path | Centroids | None,
    notes: list[str],
) -> _Crafting:
    if isinstance(config, TransferConfig):
        # Transfer mode loads its surrogates only: never `model`, never a judge.
        surrogates = load_surrogates(config, device)
        cents = surrogate_centroids(surrogates, config, centroid_folder(centroids) if config.uses_centroids else None)
        return _Crafting(TransferAttack(surrogates, image, target, config, cents), surrogates, 0.0, cents is not None)
    clf = _as_model(model, device, weights)
    cents = resolve_centroids(clf, centroids, notes) if config.centroid_weight > 0 else None
    return _Crafting(TargetedAttack(clf, image, target, config, cents), [clf], config.confidence, cents is not None)


def attack_file(
    image: str | Path,
    target: str | int,
    output: str | Path | None = None,
    *,
    model: str | Classifier = DEFAULT_MODEL,
    device: str | None = None,
    weights: str | Path | None = None,
    config: AnyConfig | None = None,
    centroids: str | Path | Centroids | None = "auto",
    on_step: Callable[[StepRecord], None] | None = None,
    attack_hook: Callable[[TargetedAttack | TransferAttack], None] | None = None,
    metadata: dict[str, str] | None = None,
    max_pixels: int = MAX_PIXELS,
    judges: Sequence[str | Classifier] = (),
    probe_output: bool = True,
) -> AttackReport:
    """Attack one image file toward `target` and save the adversarial PNG.

    `target` is a class name, synonym, WordNet id or index. The output defaults to
    `<input>_adv_<target>.png` beside the input; the input is never overwritten. The
    returned report's `final*` fields come from the saved file re-read from disk.
    `attack_hook` receives the attack object before it starts (to cancel it from elsewhere).
    `max_pixels` refuses larger images before decoding them. Everything that can be checked
    before the attack is: the target, the output path and folder (a probe file is written
    and removed, and free space is compared with the PNG's size), and whether the attack
    fits in memory (guiapp.core.memory); each raises a GuiappError subclass.

    `config` may be any mode's config (guiapp.core.modes.make_config). A TransferConfig
    crafts on its surrogate models and never loads `model`; success then means every
    surrogate sees the target in the saved file. `judges` are other models asked, after
    saving, what they see in the file (their verdicts are in `report.judges`).
    `probe_output=False` skips writing the probe file (free space is still checked):
    for callers that probe their output folder once, as a batch does.
    """
    config = config or AttackConfig()
    # centroids=None ("none") turns the term off, as in the other modes; the report says so
    centroids_off = isinstance(config, TransferConfig) and centroids is None and config.uses_centroids
    if centroids_off:
        config = replace(config, centroid_weight=0.0, centroid_mix=0.0)
    path = _as_path(image, "image")
    target = check_target(target)
    if output is not None:
        output = _as_path(output, "output")
    labels = imagenet_labels() if isinstance(config, TransferConfig) else _as_model(model, device, weights).labels
    target_index = labels.resolve(target)
    target_name = labels[target_index].name
    out = output or default_output_path(path, target_name)
    check_output_path(out, [path])  # fail before spending minutes on the attack
    loaded = load_image(path, max_pixels)
    width, height = loaded.size
    check_attack_memory(width, height, config.mode, pick_device(device) if not isinstance(model, Classifier) else model.device,
                        len(getattr(config, "surrogates", ())) or 1)
    # Worst case for the PNG: incompressible noise, 3 or 4 bytes per pixel.
    probe_writable(out.parent, expected_bytes=width * height * (3 if loaded.alpha is None else 4),
                   write_probe=probe_output)
    notes: list[str] = [*loaded.notes, *(["centroids none: transfer without the centroid term"] if centroids_off else [])]
    crafting = _crafting(config, model, device, weights, loaded.rgb, target_index, centroids, notes)
    verifiers = crafting.verifiers

    source_probs = torch.stack([classify_pil(m, loaded.to_pil()) for m in verifiers]).mean(0)
    source = Prediction(int(source_probs.argmax()), labels[int(source_probs.argmax())].name, float(source_probs.max()))
    attack = crafting.attack
    if attack_hook:
        attack_hook(attack)
    start = time.perf_counter()
    for record in attack.steps():
        if on_step:
            on_step(record)
    result = attack.result
    seconds = time.perf_counter() - start
    assert result is not None

    dist = distortion(loaded.rgb, result.adversarial)
    saved: Path | None = None
    final = Prediction(result.top1, labels[result.top1].name, result.top1_conf)
    target_conf = result.target_conf
    success = False
    verdicts: dict[str, dict] = {}
    if not result.cancelled:
        meta = output_metadata(verifiers, target_index, config, result.steps, path.name)
        meta.update({"psnr": f"{dist.psnr:.2f}", **(metadata or {})})
        saved = save_png(out, result.adversarial, loaded.alpha, meta, protect=[path], icc_profile=loaded.icc_profile)
        probs = classify_saved(verifiers, saved, max_pixels)
        mean = torch.stack(probs).mean(0)
        final = Prediction(int(mean.argmax()), labels[int(mean.argmax())].name, float(mean.max()))
        target_conf = float(mean[target_index])
        # Every crafting model must see the target in the file on disk.
        success = all(meets_target(p, target_index, crafting.confidence) for p in probs)
        verdicts = judge_verdicts(list(judges), saved, target_index, device, max_pixels)
    return AttackReport(
        input=str(path),
        output=str(saved) if saved else None,
        model="+".join(m.name for m in verifiers),
        target=target_index,
        target_name=target_name,
        source=source.index,
        source_name=source.name,
        source_conf=source.confidence,
        final=final.index,
        final_name=final.name,
        final_conf=final.confidence,
        target_conf=target_conf,
        success=success,
        cancelled=result.cancelled,
        linf=dist.linf,
        l2=dist.l2,
        psnr=dist.psnr,
        ssim=dist.ssim,
        steps=result.steps,
        seconds=seconds,
        centroids=crafting.centroids,
        width=loaded.size[0],
        height=loaded.size[1],
        notes=notes,
        mode=config.mode,
        judges=verdicts,
    )

