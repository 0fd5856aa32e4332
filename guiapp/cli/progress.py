"""Progress bars of the CLI: tqdm on stderr, configured once for every command.

Interactive terminals redraw in place ten times a second; logs and pipes (CI) get a line
at most every 5 s, so a long batch does not flood them.
"""

from __future__ import annotations

import sys

from tqdm import tqdm

# A bar whose caller gives the ETA in its postfix: tqdm's own rate would count files that
# go by in microseconds (a resumed batch's kept results) as work ("969 file/s").
OWN_ETA_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"


def progress_bar(total: int | None, desc: str, unit: str = "it", own_eta: bool = False) -> tqdm:
    """`own_eta`: no rate or ETA of tqdm's; the caller puts its own in the postfix."""
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
        bar_format=(OWN_ETA_FORMAT if own_eta and total is not None else None if total is not None
                    else "{desc}: {n_fmt} {unit}s [{elapsed}, {rate_fmt}{postfix}]"),
    )


def format_seconds(seconds: float) -> str:
    """An ETA as tqdm writes one: 0:42, 3:05, 1:02:10."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def advance(bar: tqdm, done: int, postfix: str) -> None:
    """Move the bar to `done` (not by one: callers report absolute counts)."""
    bar.set_postfix_str(postfix, refresh=False)
    bar.update(done - bar.n)
