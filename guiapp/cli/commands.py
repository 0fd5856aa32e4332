"""The single-image commands: predict, attack, labels, models, centroids build."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from ..core.attacks import StepRecord
from ..core.errors import GuiappError
from ..core.strict_json import strict_dumps
from .attack_options import centroids_arg, config_from_args
from .progress import advance, progress_bar
from .text import short_name, shown


def cmd_predict(args: argparse.Namespace) -> int:
    """Every image gets its top-k; an unreadable one gets one error line and the rest go on
    (as in batch). Exit 2 if any image failed."""
    from ..core import load_model, predict_image
    from ..core.predict import load_for_prediction

    model = load_model(args.model, args.device, args.weights)
    say_model_notes(model)
    results: dict[str, object] = {}
    failed = 0
    for path in args.images:
        try:
            loaded = load_for_prediction(path, model, args.max_pixels)
        except GuiappError as exc:
            failed += 1
            results[str(path)] = {"error": str(exc)}
            print(f"error: {shown(exc)}", file=sys.stderr)
            continue
        for note in loaded.notes:
            print(f"note: {shown(path)}: {note}", file=sys.stderr)
        preds = predict_image(model, loaded, args.top)
        results[str(path)] = [p.__dict__ for p in preds]
        if not args.json:
            print(shown(path))
            for p in preds:
                print(f"  {p.confidence:7.2%}  {p.index:4d}  {p.name}")
    if args.json:
        print(strict_dumps(results, indent=2))
    return 2 if failed else 0


def cmd_attack(args: argparse.Namespace) -> int:
    from ..core import attack_file, load_model
    from ..core.attack_report import seen_phrase
    from ..core.attacks import strategy_of

    config = config_from_args(args)
    strategy = strategy_of(config)
    if not (args.json or args.quiet) and sys.stderr.isatty():
        # Loading takes seconds: a person at a terminal is told what is happening (issue 33 item
        # 12); a log or a pipe gets nothing before the bar, so an error stays its one line.
        print(f"loading {', '.join(strategy.crafter_names(config, args.model))} and the image…", file=sys.stderr)
    # A mode that crafts on models of its own (transfer: the surrogates) never loads --model
    # (nor any judge, until after).
    model = load_model(args.model, args.device, args.weights) if strategy.uses_chosen_model else args.model
    # A white-box attack stops once the target is reached (~9 of the 200 steps allowed): a bar
    # to 200 ended at 4% with an ETA of minutes for seconds of work. It counts steps instead.
    steps = None if strategy.stops_early(config) else strategy.step_budget(config)
    name = short_name(shown(Path(args.image).name))
    bar = None  # created at the first step, so an error found up front is the only output

    def on_step(r: StepRecord) -> None:
        nonlocal bar
        if args.json or args.quiet:
            return
        if bar is None:
            if steps is None:  # the most it may take, said once above the bar: in the bar's
                # description it pushed the count and the figures off an 80-column line (walked)
                print(f"attack {name}: {strategy.budget_text(config)}", file=sys.stderr)
            bar = progress_bar(steps, f"attack {name}", "step")
        best = "" if math.isnan(r.best_psnr) else f" best {r.best_psnr:.1f}dB"
        advance(bar, r.step, f"{r.phase} target {r.target_conf:.2f}{best}")

    try:
        report = attack_file(
            args.image,
            args.target,
            args.output,
            model=model,
            config=config,
            centroids=centroids_arg(args.centroids),
            on_step=on_step,
            max_pixels=args.max_pixels,
            device=args.device,
            judges=[j.strip() for spec in args.judge for j in spec.split(",") if j.strip()],
        )
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        print(strict_dumps(report.to_dict(), indent=2))
        return 0 if report.success else 1
    for note in report.notes:
        print(f"note: {shown(note)}", file=sys.stderr)
    # Whose view of the original: the surrogates' (their mean) where they craft, never the victim's
    # (asking it would spend a question).
    seen_by = "" if strategy.uses_chosen_model else ", as the surrogates see it"
    print(f"source : {report.source_name} ({report.source_conf:.1%}{seen_by})")
    print(f"target : {report.target_name} [{report.target}]")
    if report.queries is not None:  # query mode: the victim's word on the saved pixels
        print(f"victim : {shown(report.victim_verdict())} (of {shown(report.output)})")
    else:
        print(f"result : {report.final_name} ({report.final_conf:.1%}) as re-read from {shown(report.output)}")
    print(f"noise  : {', '.join(report.noise_figures())}")
    device = f" on {model.device}" if strategy.uses_chosen_model else ""
    print(f"effort : {report.steps} steps, {report.seconds:.1f} s{device} ({report.width}x{report.height})")
    if not strategy.uses_chosen_model:
        print(f"crafted: {strategy.describe(config)}")  # the models, the budget, the iterations
        for said in report.crafters_verdicts():  # each surrogate's own verdict on the file, not their average
            print(f"surrogate: {shown(said)}")
    for name, v in report.judges.items():
        verdict = "fooled" if v["success"] else "not fooled"
        print(f"judge  : {shown(seen_phrase({**v, 'model': name}, report.target_name))}: {verdict}")
    if report.success:
        print("SUCCESS")
    elif report.queries is not None:
        print("FAILED: the victim does not classify the saved image as the target")
    elif not strategy.uses_chosen_model:
        print("FAILED: not every surrogate classifies the saved image as the target")
    else:
        print("FAILED: the saved image is not classified as the target")
    return 0 if report.success else 1


def say_model_notes(model) -> None:
    """What loading a user's model had to assume or could not do, once, on stderr."""
    for note in model.notes:
        print(f"note: {shown(note)}", file=sys.stderr)


def cmd_labels(args: argparse.Namespace) -> int:
    from ..core.labels import imagenet_labels

    if args.model:
        from ..core import load_model

        model = load_model(args.model, "cpu", args.weights)
        say_model_notes(model)
        labels = model.labels
    else:
        labels = imagenet_labels()
    hits = labels.search(args.search or "")
    for c in hits:
        wnid = f"{c.wnid}  " if c.wnid else ""
        print(f"{c.index:4d}  {wnid}{c.name}" + (f"  ({', '.join(c.synonyms[1:])})" if len(c.synonyms) > 1 else ""))
    if not hits:
        print(f"no class matches {args.search!r}", file=sys.stderr)
        return 1
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    if getattr(args, "models_command", None) == "check":
        return cmd_models_check(args)
    from ..core.models import available_models, model_status

    for name in available_models():
        ok, why = model_status(name)
        print(f"{'ok ' if ok else '-- '} {name:22s} {why}")
    print("\nYour own model: --model torchvision:NAME, timm:NAME, or a file (.onnx, .pt TorchScript, .pt2 "
          "torch.export) with its card NAME.json beside it; check it first with: guiapp-cli models check SPEC "
          "--images DIR (docs/MODELS.md)")
    return 0


def cmd_models_check(args: argparse.Namespace) -> int:
    """Load a model spec, say what it is, and measure top-1/top-5 on a labelled folder."""
    from ..core import load_model
    from ..core.model_check import check_model, labelled_images

    model = load_model(args.spec, args.device, args.weights)
    say_model_notes(model)
    spec = model.spec
    how = "squashed to" if spec.squash else f"shorter side {spec.resize}, centre crop"
    mean = ", ".join(f"{m:.4g}" for m in spec.mean)
    std = ", ".join(f"{v:.4g}" for v in spec.std)
    preprocessing = (f"{how} {spec.crop} px; ([0, 1] pixels - [{mean}]) / [{std}] (RGB order)"
                     + (", then reversed to BGR" if model.channel_order == "BGR" else ""))
    modes = "all (differentiable)" if model.differentiable else "predict and judge only (an oracle)"
    if not args.json:  # --json: stdout is the JSON object alone (walked: these lines came before it)
        print(f"model      : {model.display_name}")
        print(f"weights    : {model.weights_source} (fingerprint {model.fingerprint})")
        print(f"labels     : {len(model.labels)} classes ({model.labels[0].name}, {model.labels[1].name}, ...)"
              if len(model.labels) > 1 else f"labels     : {len(model.labels)} class")
        print(f"input      : {preprocessing}")
        print(f"features   : {model.feature_layer}")
        print(f"modes      : {modes}")
    pairs = labelled_images(args.images, model, args.n)
    result = None
    with progress_bar(len(pairs), "check", "image") as bar:
        for i, result in enumerate(check_model(model, pairs, args.max_pixels), 1):
            advance(bar, i, f"top-1 {result.top1_rate:.1%}" if result.images else "")
    assert result is not None
    for _path, why in result.unreadable:
        print(f"skipped: {shown(why)}", file=sys.stderr)
    if args.json:
        print(strict_dumps({"model": model.name, "weights": model.weights_source, "fingerprint": model.fingerprint,
                            "labels": len(model.labels), "input": preprocessing, "features": model.feature_layer,
                            "modes": modes, "images": result.images, "classes": result.classes,
                            "top1": result.top1_rate, "top5": result.top5_rate,
                            "misses": [{"image": n, "expected": e, "got": g} for n, e, g in result.misses],
                            "unreadable": len(result.unreadable)}, indent=2))
    else:
        print(f"images     : {result.images} of {result.classes} classes (of {len(model.labels)}) from "
              f"{shown(args.images)}")
        print(f"top-1      : {result.top1_rate:.1%} ({result.top1}/{result.images})")
        print(f"top-5      : {result.top5_rate:.1%} ({result.top5}/{result.images})")
        for name, expected, got in result.misses[:5]:
            print(f"  missed   : {name}: {expected} -> {got}")
    chance = 1 / max(1, len(model.labels))
    # Near chance: under twice chance (a few classes) or 20% (many), and under 50% either way.
    if result.images and result.top1_rate < min(max(0.2, 2 * chance), 0.5):
        print("warning: top-1 is near chance: the card's labels (their order), resize/crop, pixel_range, mean/std "
              "or channel_order are probably wrong (docs/MODELS.md)", file=sys.stderr)
        return 1
    return 0 if result.images else 2


def cmd_centroids_build(args: argparse.Namespace) -> int:
    from ..core import load_model
    from ..core.centroids import SHIPPED_DIR, CentroidBuilder, default_centroid_path

    model = load_model(args.model, args.device, args.weights)
    layers = tuple(x.strip() for x in args.layers.split(",") if x.strip())
    builder = CentroidBuilder(model, args.images, views=args.views, k=args.k, seed=args.seed,
                              layers=layers, augment=args.augment)
    # After the images are found (a wrong folder is the likelier mistake), before the work.
    out = Path(args.output) if args.output else default_centroid_path(model.name)
    if not args.output and out.resolve().is_relative_to(SHIPPED_DIR.resolve()):
        # Never into the installed package: that replaced the shipped centroids for everyone.
        raise GuiappError(f"give the output file (-o FILE.npz), then attack with --centroids FILE.npz; centroids "
                          f"build writes nothing into guiapp's own centroids folder ({SHIPPED_DIR})")
    with progress_bar(len(builder.per_class), "centroids", "class") as bar:
        for p in builder.run():
            advance(bar, p.done, p.label)
    centroids = builder.centroids
    assert centroids is not None  # run() went to its end (nothing cancels it here): it set them or raised
    centroids.save(out)
    for s in builder.skipped:
        print(f"skipped: {s}", file=sys.stderr)
    meta = centroids.meta
    size = Path(out).stat().st_size / 1e6
    print(f"wrote {out} ({size:.1f} MB): {meta['classes']} classes x {args.k} centres at {', '.join(layers)} "
          f"({args.views} {args.augment} views per image)")
    return 0
