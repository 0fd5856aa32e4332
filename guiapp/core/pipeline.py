"""One attack from start to finish, the same for every front-end:
plan -> run -> save and verify -> judge -> report.

    from guiapp.core import attack_file
    report = attack_file("cat.jpg", "goldfish", "cat_goldfish.png")
    print(report.success, report.final_name, report.psnr)

- `plan_attack` checks and loads everything before the first step: the memory the
  attack needs (once), the models it crafts on, the clean image's class, the target, the
  centroid data. A caller's mistake is a GuiappError here, never minutes later.
- `AttackRun` runs the plan step by step (a generator of StepRecords, cancellable from
  any thread): the GUI worker iterates it and shows each record.
- `save_result` (saved_result.py) writes the PNG atomically with the metadata that says
  how it was made, then re-reads the file from disk and classifies it with every crafting
  model through the standard PIL preprocessing: success is what any other program sees.
- `judge` (attack_report.py) asks models that took no part what they see.
- `execute` chains run, save, judge and report for a plan (`prepare_run`, the steps,
  `finish_run`); `attack_file` is the whole pipeline for one file (the CLI, the HTTP
  server and batch call it or `execute`). `run_together` runs several prepared plans in
  one loop (batch's --group: the transfer mode batches its surrogates across images).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .arguments import as_model, as_path, check_target
from .attack_report import AttackReport, judge, make_report
from .attacks import AttackConfig, AttackResult, AttackStrategy, StepRecord, strategy_of
from .attacks.base import CentroidsArg
from .crafter_labels import CrafterLabels
from .errors import OutputError
from .fits import check_fits, device_of, load_for_attack, memory_estimate  # noqa: F401 - memory_estimate re-exported
from .imageio import MAX_PIXELS, LoadedImage
from .labels import LabelSet
from .metrics import distortion, warm_up
from .models import DEFAULT_MODEL, Classifier
from .png_output import check_output_path, probe_writable
from .predict import Prediction, classify_pil
from .saved_result import save_result

Target = str | int | Callable[[Prediction], int]  # a label, or a choice made from the clean image's class


def default_output_path(image_path: Path, target_name: str, config: Any = None) -> Path:
    """<stem>_adv_<target>[_<mode and budget>].png beside the input: the mode (and a budget
    other than the mode's default) is in the name, so README's examples in turn (default,
    --budget perceptual, --robust, transfer, --preset loud) no longer replace each other."""
    slug = "".join(ch if ch.isalnum() else "_" for ch in target_name.lower()).strip("_")
    tag = "".join(f"_{part}" for part in output_tag(config))
    return image_path.with_name(f"{image_path.stem}_adv_{slug}{tag}.png")


def output_tag(config: Any) -> list[str]:
    """What tells one mode's result from another's in a file name: the mode unless it is
    the default, and the budget unless it is the mode's own default."""
    if config is None:
        return []
    parts = [] if config.mode == "default" else [config.mode]
    budget = getattr(config, "budget", None)
    defaults = {f.name: f.default for f in dataclasses.fields(config)}
    if budget is not None and budget != defaults.get("budget"):
        parts.append(str(budget))
    return parts


def free_default_path(path: Path) -> Path:
    """The default output, or <name>_2.png, _3... when a file of that name is there: an
    output nobody named never replaces a file (an explicit -o does, as asked)."""
    if not path.exists():
        return path
    for n in range(2, 10_000):
        candidate = path.with_name(f"{path.stem}_{n}{path.suffix}")
        if not candidate.exists():
            return candidate
    raise OutputError(f"no free name left beside {path}: give the output file (-o)")


@dataclass
class AttackPlan:
    """An attack ready to run: everything checked and loaded before its first step."""

    image: LoadedImage
    source_name: str  # the input's file name, recorded in the PNG
    strategy: AttackStrategy
    config: Any  # what runs (a term the caller switched off is off here)
    crafters: list[Classifier]  # the models that craft, and must see the target in the file
    source: Prediction  # the clean image through the crafters' standard preprocessing
    target: int
    centroids: Any
    uses_centroids: bool
    notes: list[str]
    max_pixels: int

    @property
    def target_name(self) -> str:
        return self.crafters[0].labels[self.target].name

    @property
    def crafted_on(self) -> str:
        return "+".join(m.name for m in self.crafters)


def plan_attack(
    image: LoadedImage,
    target: Target,
    *,
    config: Any = None,
    model: str | Classifier = DEFAULT_MODEL,
    device: str | None = None,
    weights: str | Path | None = None,
    centroids: CentroidsArg = "auto",
    max_pixels: int = MAX_PIXELS,
    memory_checked: bool = False,
) -> AttackPlan:
    """Check and load what an attack on `image` toward `target` needs (see the module doc).

    `config` may be any mode's config (guiapp.core.attacks.make_config); a mode that
    crafts on models of its own (transfer) never loads `model`. `centroids`: "auto" (the
    shipped ones), a file or folder, loaded Centroids, or None (the term off).
    `memory_checked`: the caller ran `check_fits` before decoding the image (`load_for_attack`).
    """
    config = config if config is not None else AttackConfig()
    strategy = strategy_of(config)
    warm_up()  # the quality figures' libraries load while the attack runs
    width, height = image.size
    if not memory_checked:  # refuse now (MemoryLimitError) rather than be killed halfway through
        check_fits(config, width, height, device_of(model, device), model)
    crafters = strategy.load_crafters(config, model, device, weights)
    prepared = strategy.prepare_centroids(config, crafters, centroids)
    pil = image.to_pil()
    # Several crafters may classify into different label lists: the first's is the one the
    # target names, and each other crafter must have the target too (refused here, by name).
    crafter_labels = CrafterLabels(crafters)
    probs = crafter_labels.mean_probs([classify_pil(m, pil) for m in crafters])
    labels = crafters[0].labels
    source = Prediction(int(probs.argmax()), labels[int(probs.argmax())].name, float(probs.max()))
    index = target(source) if callable(target) else labels.resolve(check_target(target))
    crafter_labels.targets(index)
    return AttackPlan(
        image=image,
        source_name=image.path.name if image.path else "",
        strategy=strategy,
        config=prepared.config,
        crafters=crafters,
        source=source,
        target=index,
        centroids=prepared.centroids,
        uses_centroids=prepared.used,
        notes=[*image.notes, *(n for m in crafters for n in m.notes), *prepared.notes],
        max_pixels=max(max_pixels, width * height),
    )


class AttackRun:
    """The attack of a plan: `for record in run.steps(): ...`, then `run.result`;
    `cancel()` from any thread. Building it builds the centroid terms, so a centroid file
    that lacks the target fails here, before the first step."""

    def __init__(self, plan: AttackPlan) -> None:
        self.plan = plan
        self.loop = plan.strategy.build(plan.config, plan.crafters, plan.image.rgb, plan.target, plan.source.index,
                                        plan.centroids)
        self.seconds = 0.0

    def steps(self) -> Iterator[StepRecord]:
        start = time.perf_counter()
        try:
            yield from self.loop.steps()
        finally:
            self.seconds = time.perf_counter() - start

    def cancel(self) -> None:
        self.loop.cancel()

    @property
    def cancelled(self) -> bool:
        return self.loop.cancelled

    def current_image(self) -> np.ndarray | None:
        return self.loop.current_image()

    @property
    def result(self) -> AttackResult:
        if self.loop.result is None:
            raise RuntimeError("the attack has not finished")
        return self.loop.result


@dataclass
class PreparedRun:
    """A plan whose output was checked and whose loop is built, ready to run."""

    plan: AttackPlan
    output: Path
    run: AttackRun


def prepare_run(plan: AttackPlan, output: str | Path, *, attack_hook: Callable[[AttackRun], None] | None = None,
                probe_output: bool = True) -> PreparedRun:
    """Check the output (never the input, a .png name, a folder that can be written with
    room for the PNG) and build the run; `attack_hook` receives it before it starts."""
    out = check_output_path(output, [plan.image.path] if plan.image.path else [])
    width, height = plan.image.size
    # Worst case for the PNG: incompressible noise, 3 or 4 bytes per pixel.
    probe_writable(out.parent, expected_bytes=width * height * (3 if plan.image.alpha is None else 4),
                   write_probe=probe_output)
    run = AttackRun(plan)
    if attack_hook:
        attack_hook(run)
    return PreparedRun(plan, out, run)


def finish_run(prepared: PreparedRun, *, metadata: dict[str, str] | None = None,
               judges: Sequence[str | Classifier] = (), device: str | None = None) -> AttackReport:
    """After the run: save and verify the PNG (unless cancelled), ask the judges, report."""
    plan, run = prepared.plan, prepared.run
    result = run.result
    dist = distortion(plan.image.rgb, result.adversarial)
    verified, verdicts = None, {}
    if not result.cancelled:
        verified = save_result(plan, result, prepared.output, metadata=metadata, dist=dist)
        verdicts = judge(judges, verified.path, plan.target, device or plan.crafters[0].device, plan.max_pixels,
                         labels=plan.crafters[0].labels)
    return make_report(plan, run, dist, verified, verdicts)


def run_together(runs: Sequence[AttackRun]) -> Iterator[tuple[int, StepRecord]]:
    """Run several plans of one mode and settings in one loop (the transfer mode batches
    its surrogates' passes across the images: the same PNGs as one at a time, faster on a
    GPU); yields (index, record). Each run's `seconds` is the group's time over its size."""
    if not runs:
        return
    strategy = runs[0].plan.strategy
    start = time.perf_counter()
    try:
        yield from strategy.run_together([r.loop for r in runs])
    finally:
        share = (time.perf_counter() - start) / len(runs)
        for r in runs:
            r.seconds = share


def execute(
    plan: AttackPlan,
    output: str | Path,
    *,
    on_step: Callable[[StepRecord], None] | None = None,
    attack_hook: Callable[[AttackRun], None] | None = None,
    metadata: dict[str, str] | None = None,
    judges: Sequence[str | Classifier] = (),
    device: str | None = None,
    probe_output: bool = True,
) -> AttackReport:
    """Run a plan, save and verify its PNG at `output`, ask the judges, report.

    Before the first step the output is checked (never the input, a .png name, a folder
    that can be written with room for the PNG). `attack_hook` receives the run before it
    starts (to cancel it from elsewhere). `probe_output=False` skips writing the probe
    file (free space is still checked): for callers that probe their folder once.
    """
    prepared = prepare_run(plan, output, attack_hook=attack_hook, probe_output=probe_output)
    for record in prepared.run.steps():
        if on_step:
            on_step(record)
    return finish_run(prepared, metadata=metadata, judges=judges, device=device)


def crafting_labels(config: Any, model: str | Classifier, device: str | None = None,
                    weights: str | Path | None = None) -> LabelSet:
    """The label list targets name in a run of `config`: the first crafting model's (the
    chosen model's, or the first surrogate's in the transfer and query modes); the crafting
    models are loaded, or reused from the model cache."""
    return strategy_of(config).load_crafters(config, model, device, weights)[0].labels


def attack_file(
    image: str | Path,
    target: str | int,
    output: str | Path | None = None,
    *,
    model: str | Classifier = DEFAULT_MODEL,
    device: str | None = None,
    weights: str | Path | None = None,
    config: Any = None,
    centroids: CentroidsArg = "auto",
    on_step: Callable[[StepRecord], None] | None = None,
    attack_hook: Callable[[AttackRun], None] | None = None,
    metadata: dict[str, str] | None = None,
    max_pixels: int = MAX_PIXELS,
    judges: Sequence[str | Classifier] = (),
    probe_output: bool = True,
) -> AttackReport:
    """Attack one image file toward `target` and save the adversarial PNG.

    `target` is a class name, synonym, WordNet id or index of the model's own labels. The output defaults to
    `<input>_adv_<target>.png` beside the input; the input is never overwritten. The
    returned report's `final*` fields come from the saved file re-read from disk.
    `max_pixels` refuses larger images before decoding them. Everything that can be checked
    before the attack is: the target, the output path and folder (a probe file is written
    and removed, and free space is compared with the PNG's size), and whether the attack
    fits in memory (guiapp.core.memory); each raises a GuiappError subclass.

    `config` may be any mode's config. In transfer mode success means every surrogate
    sees the target in the saved file. `judges` are other models asked, after saving,
    what they see in the file (their verdicts are in `report.judges`).
    """
    path = as_path(image, "image")
    target = check_target(target)
    # The target is a class of the crafting models' own label list (loaded, or reused from
    # the model cache, before the image is decoded).
    config = config if config is not None else AttackConfig()
    labels = crafting_labels(config, model, device, weights)
    index = labels.resolve(target)
    # Judges are loaded now: a missing one must fail before the attack, not after it.
    judges = [as_model(j, device) for j in judges]
    out = as_path(output, "output") if output is not None else \
        free_default_path(default_output_path(path, labels[index].name, config))
    check_output_path(out, [path])  # before decoding a large image, let alone attacking it
    loaded = load_for_attack(path, config, model, device, max_pixels)
    plan = plan_attack(loaded, index, config=config, model=model, device=device, weights=weights,
                       centroids=centroids, max_pixels=max_pixels, memory_checked=True)
    return execute(plan, out, on_step=on_step, attack_hook=attack_hook, metadata=metadata, judges=judges,
                   device=device, probe_output=probe_output)
