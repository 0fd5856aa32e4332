"""The subcommands and their one-line help, without the engine: `guiapp-cli --help` and
`--version` answer from here in a fraction of a second (the full parser builds every
mode's flags from the engine's configs, which imports torch: 11-13 s on a busy machine)."""

from __future__ import annotations

import argparse

from .. import __version__

DESCRIPTION = "Targeted adversarial noise for image classifiers (ours or yours: docs/MODELS.md)."
COMMANDS = {
    "predict": "top-k classes of images",
    "attack": "make an image classified as TARGET, saved as PNG",
    "batch": "attack every image of a folder; resumable, with a report",
    "batch-report": "write report.csv/json of a batch output folder from its journal",
    "evaluate": "the purification study: accuracy and targeted success under defences",
    "serve": "the engine as a web API (needs the [serve] extra); docs at /docs",
    "labels": "list or search the classes (of --model: default ImageNet's)",
    "models": "list models and whether their weights are available; check your own",
    "centroids": "class centroid files",
}
OVERVIEW_ARGS = (["-h"], ["--help"], ["--version"])


def overview(argv: list[str]) -> int:
    """Answer `guiapp-cli --help` / `--version` with the top level alone."""
    parser = argparse.ArgumentParser(prog="guiapp-cli", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"guiapp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in COMMANDS.items():
        sub.add_parser(name, help=text)
    try:
        parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    return 0
