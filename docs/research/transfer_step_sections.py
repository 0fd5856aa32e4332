"""Where one transfer iteration goes: the quiet default on one photo, timed by section.

    python docs/research/transfer_step_sections.py [--image PATH] [--iterations 60] [--precision auto]

Wraps the loop's pieces (the views, the surrogates' forward passes, the loss, the
backward pass, the step with its live check) with process-CPU timers, runs the attack
once (the first iteration, with its set-up, not counted) and prints milliseconds per
iteration. One torch thread, as guiapp runs an attack.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

import torch

# docs/research/ -> the repository, and bench/ for common.py and transfer.py
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from guiapp.core.attacks import (
    make_config,  # noqa: E402
    transfer_lockstep,  # noqa: E402
)
from guiapp.core.attacks import transfer as transfer_module  # noqa: E402
from guiapp.core.attacks.centroid_terms import centroid_folder, surrogate_centroids  # noqa: E402
from guiapp.core.imageio import load_image  # noqa: E402

from common import DEFAULT_IMAGES  # noqa: E402

SPENT: dict[str, float] = {}


def timed(name: str, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        start = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            SPENT[name] = SPENT.get(name, 0.0) + time.process_time() - start

    return wrapper


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", type=Path, default=DEFAULT_IMAGES / "n01440764_tench.JPEG")
    ap.add_argument("--iterations", type=int, default=60)
    ap.add_argument("--precision", default="auto")
    args = ap.parse_args()
    torch.set_num_threads(1)
    attack_cls = transfer_module.TransferAttack
    attack_cls._inputs = timed("views", attack_cls._inputs)  # type: ignore[method-assign]
    attack_cls._loss_of = timed("loss", attack_cls._loss_of)  # type: ignore[method-assign]
    attack_cls._margins = timed("live check", attack_cls._margins)  # type: ignore[method-assign]
    attack_cls._advance = timed("step (with the live check)", attack_cls._advance)  # type: ignore[method-assign]
    transfer_lockstep.forward_surrogates = timed("forward", transfer_lockstep.forward_surrogates)
    torch.autograd.grad = timed("backward", torch.autograd.grad)  # type: ignore[assignment]

    config = make_config("transfer", iterations=args.iterations, precision=args.precision)
    surrogates = transfer_module.load_surrogates(config, "cpu")
    cents = surrogate_centroids(surrogates, config.centroid_layers_needed, centroid_folder("auto"))
    image = load_image(args.image).rgb
    attack = attack_cls(surrogates, image, 1, config, cents, source=0)
    steps = attack.steps()
    next(steps)
    SPENT.clear()
    start, n = time.process_time(), 0
    for record in steps:
        n += record.phase == "transfer"
    total = (time.process_time() - start) / n * 1000
    parts = ", ".join(f"{k} {v / n * 1000:.1f}" for k, v in SPENT.items())
    print(f"{image.shape[1]}x{image.shape[0]}, precision {args.precision}: {total:.1f} ms per iteration ({parts})")


if __name__ == "__main__":
    main()
