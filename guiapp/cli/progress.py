"""Progress bars of the CLI: tqdm on stderr, configured once for every command.

Interactive terminals redraw in place ten times a second; logs and pipes (CI) get a line
at most every 5 s, so a long batch does not flood them.
"""

from __future__ import annotations

import sys

from tqdm import tqdm


def progress_bar(total: int | None, desc: str, unit: str = "it") -> tqdm:
    interactive = sys.stderr.isatty()
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        dynamic_ncols=interactive,
        ncols=None if interactive else 120,
        mininterval=0.1 if interactive else 5.0,
        smoothing=0.1,  # rate and ETA from recent items: resumed files go by in microseconds
        # Without a total, a count ("8 steps"), not tqdm's "8step".
        bar_format=None if total is not None else "{desc}: {n_fmt} {unit}s [{elapsed}, {rate_fmt}{postfix}]",
    )


def advance(bar: tqdm, done: int, postfix: str) -> None:
    """Move the bar to `done` (not by one: callers report absolute counts)."""
    bar.set_postfix_str(postfix, refresh=False)
    bar.update(done - bar.n)
