"""Summarise the quiet-transfer rows (docs/transfer/quiet/<half>/<row>.jsonl): success on
EfficientNet-Lite2 (its standard crop, and the whole photo squashed to 260x260), the
quality figures, CPU seconds, the success-against-iterations curve, and paired wins and
losses between two rows on the pairs both have.

    python docs/research/quiet_summary.py docs/transfer/quiet/held --rows quiet,base8,quiet-nocent --pair quiet:base8
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from common import sign_test  # noqa: E402


def load(folder: Path, row: str) -> dict[str, dict]:
    return {r["file"]: r for r in map(json.loads, (folder / f"{row}.jsonl").read_text().splitlines())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path)
    ap.add_argument("--rows", required=True)
    ap.add_argument("--pair", action="append", default=[], help="A:B, paired on the pairs both rows have")
    args = ap.parse_args()
    rows = {r: load(args.folder, r) for r in args.rows.split(",")}
    print("| row | pairs | Lite2 crop | Lite2 whole photo | PSNR | SSIM | CIEDE2000 | HaarPSI | CPU s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, rs in rows.items():
        v = list(rs.values())
        n = len(v)

        def med(key: str, v=v) -> float:
            return statistics.median(r[key] for r in v)

        crop, full = sum(r["crop_ok"] for r in v), sum(r["full_ok"] for r in v)
        print(f"| {name} | {n} | {crop}/{n} ({crop / n:.0%}) | {full}/{n} ({full / n:.0%}) | {med('psnr'):.1f} | "
              f"{med('ssim'):.3f} | {med('ciede2000'):.2f} | {med('haarpsi'):.3f} | {med('cpu_seconds'):.1f} |")
    print("\nsuccess after N iterations (crop / whole photo), same runs:")
    for name, rs in rows.items():
        its = sorted({int(k) for r in rs.values() for k in r["checkpoints"]})
        cells = []
        for it in its:
            got = [r["checkpoints"][str(it)] for r in rs.values() if str(it) in r["checkpoints"]]
            cells.append(f"{it}: {sum(c['crop_ok'] for c in got)}/{sum(c['full_ok'] for c in got)} of {len(got)}")
        print(f"  {name}: " + "; ".join(cells))
    for spec in args.pair:
        a, b = spec.split(":")
        common = sorted(set(rows[a]) & set(rows[b]))
        for key in ("crop_ok", "full_ok"):
            wins = sum(rows[a][f][key] and not rows[b][f][key] for f in common)
            losses = sum(rows[b][f][key] and not rows[a][f][key] for f in common)
            print(f"paired {a} vs {b} on {len(common)} pairs, {key}: +{wins} / -{losses} "
                  f"(sign test p {sign_test(wins, losses):.3f})")


if __name__ == "__main__":
    main()
