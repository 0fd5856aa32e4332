"""guiapp-cli: the headless entry point. Thin over guiapp.core; never imports Qt.

User mistakes (bad labels, unreadable files, unwritable folders) print one line and exit
with status 2; an attack that does not reach its target exits 1; Ctrl-C exits 130.
"""

from __future__ import annotations

import os
import sys

from .text import one_line


def main(argv: list[str] | None = None) -> int:
    # torch, the engine and the parser (which imports the commands) are imported here, not
    # at module level: the console script imports this module before calling main(), and a
    # Ctrl-C during those ~2 s of imports printed a traceback instead of "interrupted".
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


def _main(argv: list[str] | None) -> int:
    from .command_index import OVERVIEW_ARGS, overview

    given = sys.argv[1:] if argv is None else list(argv)
    if given in OVERVIEW_ARGS:  # no engine (torch) needed to list the commands
        return overview(given)
    import torch

    from ..core.errors import GuiappError
    from ..core.threads import apply_threads
    from .parser import build_parser

    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # a bad command line (one line, status 2), --help or --version (0)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        if hasattr(args, "threads"):
            args.threads = apply_threads(args.threads)
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
