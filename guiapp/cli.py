"""guiapp-cli: the headless entry point. Thin over guiapp.core; never imports Qt.

User mistakes (bad labels, unreadable files, unwritable folders) print one line and exit
with status 2; an attack that does not reach its target exits 1; Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import torch

from . import __version__
from .core import attack as attack_mod
from .core.errors import GuiappError
from .core.modes import MODES, AnyConfig, make_config
from .core.transfer import CENTROID_OBJECTIVES, TRANSFER_LOSSES, TransferConfig
from .progress import advance, progress_bar


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="efficientnet-lite0", help="classifier (guiapp-cli models lists them)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    p.add_argument("--weights", type=Path, help="local state dict for the model (offline use)")


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text}")
    return value


def _add_image_args(p: argparse.ArgumentParser) -> None:
    from .core.imageio import MAX_PIXELS

    p.add_argument("--max-pixels", type=_positive_int, default=MAX_PIXELS, metavar="N",
                   help=f"refuse larger images before decoding them (default {MAX_PIXELS:_}; "
                        "an attack needs about 180 bytes of memory per pixel, docs/BENCHMARKS.md)")


def shown(value: object) -> str:
    """Text safe to print: file names that are not valid UTF-8 get backslash escapes
    instead of crashing print() after the work is done."""
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    return str(value).encode(encoding, "backslashreplace").decode(encoding)


def add_attack_args(p: argparse.ArgumentParser) -> None:
    """Attack settings shared by `attack` and `batch`."""
    d = attack_mod.AttackConfig()
    # Defaults are None so each mode's own defaults apply (make_config drops None).
    p.add_argument("--eps", type=float, help=f"L-inf budget in /255 units (default {d.eps:g})")
    p.add_argument("--steps", type=int, help=f"maximum gradient steps (default {d.max_steps})")
    p.add_argument("--refine-steps", type=int, default=None,
                   help="steps spent shrinking the noise after success (default 2; 10 with --robust; "
                        "10 gives ~4.5 dB more PSNR in 1.8x the time)")
    p.add_argument("--confidence", type=float, help="required target probability (default 0: top-1 suffices)")
    p.add_argument("--centroid-weight", type=float,
                   help=f"weight of the class-centroid term (default 0; {TransferConfig().centroid_weight:g} in transfer mode)")
    p.add_argument("--centroids", default="auto",
                   help="centroid file, 'auto' (shipped) or 'none'; in transfer mode a folder of <surrogate>.npz files")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--mode", choices=MODES, default=None,
                   help="default: smallest noise that fools --model; robust: also survives JPEG-75 and 2x "
                        "rescaling; transfer: crafted on surrogate models to fool models it never saw")
    p.add_argument("--robust", action="store_true", help="same as --mode robust")
    t = p.add_argument_group("transfer mode (--mode transfer; defaults chosen by bench/transfer.py)")
    td = TransferConfig()
    t.add_argument("--iterations", type=int, help=f"gradient iterations (default {td.iterations})")
    t.add_argument("--surrogates", help=f"comma list of models to craft on (default {','.join(td.surrogates)})")
    t.add_argument("--loss", choices=TRANSFER_LOSSES, help=f"class loss (default {td.loss})")
    t.add_argument("--step-size", type=float, help="per-iteration step in /255 units (default eps/8)")
    t.add_argument("--momentum", type=float, help=f"MI decay factor, 0 disables (default {td.momentum:g})")
    t.add_argument("--diversity", type=float, help=f"DI probability, 0 disables (default {td.diversity:g})")
    t.add_argument("--di-scale", type=float, help=f"DI largest enlargement (default {td.di_scale:g})")
    t.add_argument("--ti-kernel", type=int, help=f"TI smoothing kernel in model pixels, 0 disables (default {td.ti_kernel})")
    t.add_argument("--centroid-layers", help=f"layers of the centroid term (default {','.join(td.centroid_layers)})")
    t.add_argument("--centroid-objective", choices=CENTROID_OBJECTIVES,
                   help=f"what the centroid term asks of those layers (default {td.centroid_objective})")
    t.add_argument("--shrink-margin", type=float,
                   help="shrink the noise while every surrogate keeps this logit margin (default: "
                        f"{'no shrink' if td.shrink_margin is None else td.shrink_margin})")
    _add_model_args(p)


# Options only one family of modes takes: config field -> CLI flag.
WHITE_BOX_FLAGS = {"max_steps": "--steps", "refine_steps": "--refine-steps", "confidence": "--confidence"}
TRANSFER_FLAGS = {
    "iterations": "--iterations", "surrogates": "--surrogates", "loss": "--loss", "step_size": "--step-size",
    "momentum": "--momentum", "diversity": "--diversity", "di_scale": "--di-scale", "ti_kernel": "--ti-kernel",
    "centroid_layers": "--centroid-layers", "centroid_objective": "--centroid-objective",
    "shrink_margin": "--shrink-margin",
}


def mode_from_args(args: argparse.Namespace) -> str:
    if args.robust and args.mode not in (None, "robust"):
        raise GuiappError(f"--robust is the same as --mode robust; it cannot be combined with --mode {args.mode}")
    return "robust" if args.robust else (args.mode or "default")


def config_from_args(args: argparse.Namespace) -> AnyConfig:
    mode = mode_from_args(args)
    values = {
        "max_steps": args.steps, "refine_steps": args.refine_steps, "confidence": args.confidence,
        **{field: getattr(args, flag.lstrip("-").replace("-", "_")) for field, flag in TRANSFER_FLAGS.items()},
    }
    foreign = TRANSFER_FLAGS if mode != "transfer" else WHITE_BOX_FLAGS
    wrong = [flag for field, flag in foreign.items() if values[field] is not None]
    if wrong:
        where = "--mode transfer" if mode != "transfer" else "the default and robust modes"
        raise GuiappError(f"{', '.join(wrong)} only {'applies' if len(wrong) == 1 else 'apply'} to {where}")
    return make_config(mode, eps=args.eps, centroid_weight=args.centroid_weight, seed=args.seed,
                       **{k: v for k, v in values.items() if k not in foreign})


def centroids_arg(value: str) -> str | None:
    return None if value.lower() == "none" else value


def cmd_predict(args: argparse.Namespace) -> int:
    """Every image gets its top-k; an unreadable one gets one error line and the rest go on
    (as in batch). Exit 2 if any image failed."""
    from .core import load_model, predict_image
    from .core.imageio import load_image

    model = load_model(args.model, args.device, args.weights)
    results: dict[str, object] = {}
    failed = 0
    for path in args.images:
        try:
            loaded = load_image(path, args.max_pixels)
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
        print(json.dumps(results, indent=2))
    return 2 if failed else 0


def cmd_attack(args: argparse.Namespace) -> int:
    from .core import attack_file, load_model

    config = config_from_args(args)
    # Transfer mode crafts on its surrogates: --model is not loaded (nor any judge, until after).
    transfer = isinstance(config, TransferConfig)
    model = args.model if transfer else load_model(args.model, args.device, args.weights)
    # A white-box attack stops once the target is reached (~9 of the 200 steps allowed): a bar
    # to 200 ended at 4% with an ETA of minutes for seconds of work. It counts steps instead.
    steps = config.iterations if transfer else None
    bar = None  # created at the first step, so an error found up front is the only output

    def on_step(r: attack_mod.StepRecord) -> None:
        nonlocal bar
        if args.json or args.quiet:
            return
        if bar is None:
            bar = progress_bar(steps, f"attack {shown(Path(args.image).name)}", "step")
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
        print(json.dumps(report.to_dict(), indent=2))
    else:
        for note in report.notes:
            print(f"note: {shown(note)}", file=sys.stderr)
        print(f"source : {report.source_name} ({report.source_conf:.1%})")
        print(f"target : {report.target_name} [{report.target}]")
        print(f"result : {report.final_name} ({report.final_conf:.1%}) as re-read from {shown(report.output)}")
        print(
            f"noise  : L-inf {report.linf:.0f}/255, L2 {report.l2:.3f}, PSNR {report.psnr:.1f} dB, SSIM {report.ssim:.4f}"
        )
        device = f" on {model.device}" if not transfer else ""
        print(f"effort : {report.steps} steps, {report.seconds:.1f} s{device} ({report.width}x{report.height})")
        if transfer:
            print(f"crafted: on {report.model.replace('+', ' + ')} (mode transfer)")
        for name, v in report.judges.items():
            verdict = "fooled" if v["success"] else "not fooled"
            print(f"judge  : {name} sees {v['top1_name']} ({v['confidence']:.1%}): {verdict}")
        if report.success:
            print("SUCCESS")
        elif transfer:
            print("FAILED: not every surrogate classifies the saved image as the target")
        else:
            print("FAILED: the saved image is not classified as the target")
    return 0 if report.success else 1


def cmd_labels(args: argparse.Namespace) -> int:
    from .core.labels import imagenet_labels

    hits = imagenet_labels().search(args.search or "")
    for c in hits:
        print(f"{c.index:4d}  {c.wnid}  {c.name}" + (f"  ({', '.join(c.synonyms[1:])})" if len(c.synonyms) > 1 else ""))
    if not hits:
        print(f"no class matches {args.search!r}", file=sys.stderr)
        return 1
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from .core.models import available_models, model_status

    for name in available_models():
        ok, why = model_status(name)
        print(f"{'ok ' if ok else '-- '} {name:22s} {why}")
    return 0


def cmd_centroids_build(args: argparse.Namespace) -> int:
    from .core import load_model
    from .core.centroids import CentroidBuilder, default_centroid_path

    model = load_model(args.model, args.device, args.weights)
    layers = tuple(x.strip() for x in args.layers.split(",") if x.strip())
    builder = CentroidBuilder(model, args.images, views=args.views, k=args.k, seed=args.seed,
                              layers=layers, augment=args.augment)
    with progress_bar(len(builder.per_class), "centroids", "class") as bar:
        for p in builder.run():
            advance(bar, p.done, p.label)
    out = args.output or default_centroid_path(model.name)
    builder.centroids.save(out)
    for s in builder.skipped:
        print(f"skipped: {s}", file=sys.stderr)
    meta = builder.centroids.meta
    size = Path(out).stat().st_size / 1e6
    print(f"wrote {out} ({size:.1f} MB): {meta['classes']} classes x {args.k} centres at {', '.join(layers)} "
          f"({args.views} {args.augment} views per image)")
    return 0


def cmd_batch(args: argparse.Namespace) -> int:
    import signal

    from .core import load_model
    from .core.batch import (BatchRunner, BatchStoppedError, OutputInsideInputError, SettingsChangedError,
                             TargetSpec, read_targets_csv)

    if args.targets:
        spec = TargetSpec(mapping=read_targets_csv(args.targets, args.input_dir))
    elif args.random_targets:
        spec = TargetSpec(random_seed=args.seed or 0)
    elif args.target is not None:
        spec = TargetSpec(label=args.target)
    else:
        raise GuiappError("give --target LABEL, --targets FILE.csv or --random-targets")
    model = load_model(args.model, args.device, args.weights)
    try:
        runner = BatchRunner(
            args.input_dir,
            args.out,
            model,
            spec,
            config_from_args(args),
            centroids=centroids_arg(args.centroids),
            recursive=args.recursive,
            force=args.force,
            allow_output_in_input=args.allow_output_in_input,
            workers=args.workers,
            ray=True if args.ray == "local" else (args.ray or False),
            gpu=None if args.device == "auto" else args.device.startswith("cuda"),
            max_pixels=args.max_pixels,
        )
    except OutputInsideInputError as exc:
        raise GuiappError(f"{exc} (--allow-output-in-input)") from exc
    interrupts = 0

    def on_sigint(signum, frame) -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts == 1:
            print("\nstopping after the images in progress (Ctrl-C again to stop now)", file=sys.stderr)
            runner.stop_after_current()
        else:
            runner.cancel()

    previous = signal.signal(signal.SIGINT, on_sigint)
    bar, problems, stopped = None, [], None
    try:
        for p in runner.run():
            if bar is None:
                bar = progress_bar(p.total, "batch", "file")
            if p.row.status in ("error", "failed"):
                problems.append(f"{p.row.status}: {p.row.error}")
            advance(bar, p.done, f"ok {p.succeeded} failed {p.failed} errors {p.errors} | {p.row.input[-40:]}")
    except SettingsChangedError as exc:
        raise GuiappError(f"{exc} (--force)") from exc
    except BatchStoppedError as exc:
        stopped = exc
    finally:
        signal.signal(signal.SIGINT, previous)
        if bar:
            bar.close()
    for line in problems[:20]:
        print(line, file=sys.stderr)
    if len(problems) > 20:
        print(f"... and {len(problems) - 20} more (see the report)", file=sys.stderr)
    if runner.removed_temp_files:
        n = len(runner.removed_temp_files)
        print(f"note: removed {n} temp file{'s' if n > 1 else ''} left by an interrupted run", file=sys.stderr)
    summary = runner.summary()
    print(summary.line() + f" ({runner.workers_used} worker{'s' if runner.workers_used != 1 else ''})")
    if runner.report_error:
        print(f"error: {runner.report_error}; the journal has the results: guiapp-cli batch-report {args.out}",
              file=sys.stderr)
    else:
        print(f"report: {args.out / 'report.csv'} and report.json")
    if stopped is not None:
        print(f"error: {stopped}", file=sys.stderr)
        return 2
    if summary.cancelled:
        return 130
    return 0 if summary.failed == 0 and summary.errors == 0 else 1


def cmd_batch_report(args: argparse.Namespace) -> int:
    from .core.batch_journal import JOURNAL_NAME, Journal
    from .core.batch_outdir import OutputLock
    from .core.batch_report import write_reports

    if not Journal.exists(args.out):
        raise GuiappError(f"{args.out} has no batch journal ({JOURNAL_NAME}): no batch has written there")
    with OutputLock(args.out):
        journal = Journal.open(args.out)
        try:
            summary = write_reports(journal)
        finally:
            journal.close()
    print(summary.line())
    print(f"report: {args.out / 'report.csv'} and report.json")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .core import load_model
    from .core.defences import parse_defences
    from .core.evaluation import Evaluation

    model = load_model(args.model, args.device, args.weights)
    ev = Evaluation(model, args.images, args.out, n=args.n, seed=args.seed,
                    defences=parse_defences(args.defences), dip_n=args.dip_n,
                    modes=tuple(m for m in args.modes.split(",") if m))
    with progress_bar(len(ev.items), "evaluate", "image") as bar:
        for p in ev.run():
            advance(bar, p.done, f"{p.stage} {p.file[-40:]}")
    report = ev.write_report(" ".join(["guiapp-cli", *sys.argv[1:]]) if sys.argv[1:2] == ["evaluate"] else "")
    print(report.read_text())
    print(f"wrote {report}, evaluation.csv, evaluation.png and rows.jsonl in {args.out}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import os

    from .core.imageio import MAX_PIXELS
    from .serve.settings import ServeSettings, check_exposure

    try:
        from .serve.server import bind, serve
    except ImportError as exc:
        raise GuiappError(f"the server needs the serve extra: pip install -e '.[serve]' ({exc.name} is missing)") from exc
    from .core import load_model

    settings = ServeSettings(
        host=args.host,
        port=args.port,
        workers=args.workers_per_device,
        max_queue=args.max_queue,
        # From the environment too, so the secret need not show in `ps`.
        token=args.token or os.environ.get("GUIAPP_SERVE_TOKEN") or None,
        max_upload_mb=args.max_upload_mb,
        max_pixels=args.max_pixels or MAX_PIXELS,
        max_steps=args.max_steps,
        attack_timeout_s=args.attack_timeout,
        job_ttl_s=args.job_ttl,
        centroids=centroids_arg(args.centroids),
    )
    check_exposure(settings)  # before spending seconds on the model
    sock = bind(settings.host, settings.port)  # a taken port fails now, not after the model load
    try:
        model = load_model(args.model, args.device, args.weights)
    except BaseException:
        sock.close()
        raise
    return serve(settings, model, sock)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="guiapp-cli", description="Targeted adversarial noise for ImageNet classifiers.")
    parser.add_argument("--version", action="version", version=f"guiapp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("predict", help="top-k classes of images")
    p.add_argument("images", nargs="+", type=Path)
    p.add_argument("--top", type=int, default=5)
    p.add_argument("--json", action="store_true")
    _add_image_args(p)
    _add_model_args(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("attack", help="make an image classified as TARGET, saved as PNG")
    p.add_argument("image", type=Path)
    p.add_argument("--target", "-t", required=True, help="class name, synonym, WordNet id or index")
    p.add_argument("--output", "-o", type=Path, help="output PNG (default: <image>_adv_<target>.png)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument("--judge", action="append", default=[], metavar="MODEL",
                   help="after saving, report what this model (not used for crafting) sees; repeatable")
    _add_image_args(p)
    add_attack_args(p)
    p.set_defaults(func=cmd_attack)

    p = sub.add_parser("batch", help="attack every image of a folder; resumable, with a report")
    p.add_argument("input_dir", type=Path)
    p.add_argument("--out", required=True, type=Path, help="output folder (mirrors the input tree as PNGs)")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--target", "-t", help="one label for all images")
    group.add_argument("--targets", type=Path, help="CSV of 'image path,label' rows")
    group.add_argument("--random-targets", action="store_true", help="a seeded random target per image (--seed)")
    p.add_argument("--recursive", "-r", action="store_true")
    p.add_argument("--force", action="store_true", help="redo images already done in an earlier run")
    p.add_argument("--allow-output-in-input", action="store_true",
                   help="permit OUT inside INPUT_DIR (OUT = INPUT_DIR writes NAME.adv.png beside each input)")
    p.add_argument("--workers", type=int, default=None,
                   help="images attacked at once, one process and model each (default: one per CPU core, "
                        "or one per CUDA device); with --ray, the number of actors")
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="run the images on Ray actors (needs the [cluster] extra): no ADDRESS starts a local "
                        "Ray, 'auto' joins the running cluster")
    _add_image_args(p)
    add_attack_args(p)
    p.set_defaults(func=cmd_batch)

    p = sub.add_parser("batch-report", help="write report.csv/json of a batch output folder from its journal")
    p.add_argument("out", type=Path, help="the batch's output folder")
    p.set_defaults(func=cmd_batch_report)

    p = sub.add_parser("evaluate", help="the purification study: accuracy and targeted success under defences")
    p.add_argument("--images", required=True, type=Path, help="labelled images: <wnid>_*.ext files or ImageFolder")
    p.add_argument("--out", type=Path, default=Path("evaluation"), help="report folder (resumes if present)")
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--defences", default="rescale,jpeg,bitdepth,median,dip",
                   help="comma list; parameters as jpeg:quality=50 (ppgn, context-encoder: not available)")
    p.add_argument("--dip-n", type=int, default=None, help="run Deep Image Prior on the first N images only")
    p.add_argument("--modes", default="default,robust", help="targeted attack modes to test: default,robust")
    _add_model_args(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("serve", help="the engine as a web API (needs the [serve] extra); docs at /docs")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on; other than loopback needs --token")
    p.add_argument("--port", type=int, default=8000, help="0 picks a free port (printed)")
    p.add_argument("--workers-per-device", type=int, default=1, help="attacks run at once (default 1)")
    p.add_argument("--max-queue", type=int, default=8, help="attacks waiting; beyond that 429 + Retry-After")
    p.add_argument("--token", help="require 'Authorization: Bearer TOKEN' (or set GUIAPP_SERVE_TOKEN)")
    p.add_argument("--max-upload-mb", type=float, default=50.0, help="largest request body (checked while streaming)")
    p.add_argument("--max-pixels", type=int, help="decompression guard for uploads (default: the core's, 64 M)")
    p.add_argument("--max-steps", type=int, default=1000, help="most steps/iterations a client may ask for")
    p.add_argument("--attack-timeout", type=float, default=600.0, help="seconds before a running attack is stopped")
    p.add_argument("--job-ttl", type=float, default=900.0, help="seconds a finished job and its PNG are kept")
    p.add_argument("--centroids", default="auto",
                   help="centroid file, 'auto' (shipped) or 'none'; in transfer mode a folder of <surrogate>.npz files")
    _add_model_args(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("labels", help="list or search the classes")
    p.add_argument("search", nargs="?", help="text to look for in names, synonyms, wnids")
    p.set_defaults(func=cmd_labels)

    p = sub.add_parser("models", help="list models and whether their weights are available")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("centroids", help="class centroid files")
    csub = p.add_subparsers(dest="centroids_command", required=True)
    b = csub.add_parser("build", help="encode sample images per class and cluster them")
    b.add_argument("--images", required=True, type=Path, help="ImageFolder tree or flat <wnid>_*.ext files")
    b.add_argument("--output", "-o", type=Path, help="default: centroids/<model>.npz")
    b.add_argument("--views", type=int, default=8, help="augmented views per image")
    b.add_argument("--k", type=int, default=2, help="KMeans centres per class")
    b.add_argument("--layers", default="head",
                   help="comma list of layers: head (the penultimate vector) and, for EfficientNet-Lite, stage1..stage7")
    b.add_argument("--augment", choices=("mild", "strong"), default="mild",
                   help="view augmentation; strong suits few images per class")
    b.add_argument("--seed", type=int, default=0)
    _add_model_args(b)
    b.set_defaults(func=cmd_centroids_build)
    return parser


def one_line(message: object) -> str:
    """The CLI's errors are one line: fold any newline a message carries."""
    return shown(" ".join(str(message).split()))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except GuiappError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    except MemoryError:
        print("error: out of memory (try a smaller image, or a lower --max-pixels)", file=sys.stderr)
        return 2
    except torch.OutOfMemoryError:
        print("error: out of GPU memory (try --device cpu, or a smaller image)", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader left (`guiapp-cli labels | head`): nothing went wrong, nothing to say.
        # Later writes (Python flushes stdout at exit) go nowhere instead of failing again.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass  # stdout is not a file descriptor (tests capture it)
        return 141  # 128 + SIGPIPE, what a shell reports for a reader that quit
    except OSError as exc:  # the user's environment (a file, a disk, a permission), not our bug
        where = f": {exc.filename}" if exc.filename else ""
        print(f"error: {one_line(exc.strerror or exc)}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
