"""Paired comparison of two rows of bench/transfer.py (the same pairs, two settings).

    python bench/transfer_compare.py BASELINE.jsonl VARIANT.jsonl

For the pairs both files hold, at every checkpoint (10, 25, 50 iterations) and at the
end: how often Lite2 was fooled by each, the pairs only the variant fooled ("won") and
only the baseline fooled ("lost"), and a two-sided exact sign test on those discordant
pairs (McNemar's test). Two rows of the same settings differ by a few pairs already (a
thread count changes torch's sums and borderline pairs flip), so a difference in
success counts means little without the p-value.
"""

from __future__ import annotations

import argparse
import json
from math import comb
from pathlib import Path


def load_rows(path: Path) -> dict[str, dict]:
    with path.open() as fh:
        return {row["file"]: row for row in map(json.loads, fh) if "judge_success" in row}


def fooled(row: dict, checkpoint: str) -> bool:
    return bool(row["judge_success"] if checkpoint == "end" else row["checkpoints"][checkpoint])


def sign_test(won: int, lost: int) -> float:
    """Two-sided exact binomial p-value of `won` against `lost` under p = 1/2."""
    n = won + lost
    if n == 0:
        return 1.0
    tail = sum(comb(n, i) for i in range(min(won, lost) + 1)) / 2**n
    return min(1.0, 2 * tail)


def compare(base: dict[str, dict], variant: dict[str, dict]) -> list[dict]:
    common = [name for name in base if name in variant]
    checkpoints = [c for c in ("10", "25", "50") if all(c in r.get("checkpoints", {}) for r in
                                                        (*(base[n] for n in common), *(variant[n] for n in common)))]
    out = []
    for c in (*checkpoints, "end"):
        a = [fooled(base[n], c) for n in common]
        b = [fooled(variant[n], c) for n in common]
        won = sum(y and not x for x, y in zip(a, b, strict=True))
        lost = sum(x and not y for x, y in zip(a, b, strict=True))
        out.append({"at": c, "pairs": len(common), "baseline": sum(a), "variant": sum(b),
                    "won": won, "lost": lost, "p": sign_test(won, lost)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("baseline", type=Path)
    ap.add_argument("variant", type=Path)
    args = ap.parse_args()
    rows = compare(load_rows(args.baseline), load_rows(args.variant))
    if not rows or rows[0]["pairs"] == 0:
        raise SystemExit("the two files share no pairs")
    print(f"baseline {args.baseline.name}, variant {args.variant.name}, {rows[0]['pairs']} common pairs")
    print("| iterations | baseline | variant | won / lost | sign test p |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        n = r["pairs"]
        print(f"| {r['at']} | {r['baseline']}/{n} ({r['baseline'] / n:.0%}) | {r['variant']}/{n} "
              f"({r['variant'] / n:.0%}) | +{r['won']} / −{r['lost']} | {r['p']:.3f} |")


if __name__ == "__main__":
    main()
