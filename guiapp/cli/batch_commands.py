"""`batch` (a folder in, a folder of PNGs and a report out) and `batch-report`."""

from __future__ import annotations

import argparse
import math
import sys

from ..core.errors import GuiappError
from .attack_options import centroids_arg, config_from_args
from .progress import advance, format_seconds, progress_bar


def cmd_batch(args: argparse.Namespace) -> int:
    import signal

    from ..core import load_model
    from ..core.batch import (
        BatchRunner,
        BatchStoppedError,
        OutputInsideInputError,
        SettingsChangedError,
        TargetSpec,
        read_targets_csv,
    )

    if args.targets:
        spec = TargetSpec(mapping=read_targets_csv(args.targets, args.input_dir))
    elif args.random_targets:
        spec = TargetSpec(random_seed=args.opt_seed or 0)
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
            threads=args.threads,
            group=args.group,
            max_queries_total=args.max_queries_total,
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
            if bar is None and not args.quiet:
                bar = progress_bar(p.total, "batch", "file", own_eta=True)
            if p.row.status in ("error", "failed"):
                problems.append(f"{p.row.status}: {p.row.error}")
            # The runner's ETA counts only this run's attacks (kept results and skipped files
            # are not work); nan until the first image of this run is done.
            eta = f"ETA {format_seconds(p.eta)}, " if math.isfinite(p.eta) else ""
            if bar is not None:
                advance(bar, p.done,
                        f"{eta}ok {p.succeeded} failed {p.failed} errors {p.errors} | {p.row.input[-40:]}")
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
    grouped = f", {runner.group} images per group" if runner.group > 1 and runner.workers_used == 1 else ""
    print(summary.line() + f" ({runner.workers_used} worker{'s' if runner.workers_used != 1 else ''}{grouped})")
    if runner.budget_note:
        print(f"note: {runner.budget_note}", file=sys.stderr)
    if runner.report_error:
        print(f"error: {runner.report_error}; the journal has the results: guiapp-cli batch-report {args.out}",
              file=sys.stderr)
    else:
        print(f"report: {args.out / 'report.csv'} and report.json")
    if stopped is not None:
        print(f"error: {stopped}", file=sys.stderr)
        return 2
    if summary.cancelled and not runner.budget_note:
        return 130  # interrupted; images left by a spent query budget are a result, exit 1 below
    return 0 if summary.failed == 0 and summary.errors == 0 and not runner.budget_note else 1


def cmd_batch_report(args: argparse.Namespace) -> int:
    from ..core.batch.journal import JOURNAL_NAME, Journal
    from ..core.batch.outdir import OutputLock
    from ..core.batch.report import write_reports

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
