"""Which depthwise convolutions should stay float32 under CPU bfloat16 autocast.

    python docs/research/depthwise_precision.py [--reps 12] [--rounds 4]

1. Forward+backward (gradient to the input only, as the attacks need) of single depthwise
   convolutions of the shapes EfficientNet-Lite0/1 run at 224-264 px, channels-last, one
   thread: float32 against bfloat16, per stride; for the strided ones also the two ways
   to run them inside a bfloat16 network: float32 with the casts in and out, or a
   stride-1 bfloat16 convolution sampled every other output (SameConv2d._strided_by_dense).
2. The two default surrogates' forward+backward on inputs of the sizes input diversity
   draws, under autocast bfloat16, with three policies in turn (`--rounds` alternations):
   every depthwise convolution float32 (the policy of the first `precision auto`); only
   the strided ones float32; the shipped policy (SameConv2d.forward: large strided ones
   as stride-1 bfloat16 convolutions sampled every other output, small ones float32).
Prints milliseconds (process CPU time) per call; the rows' medians go in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

# docs/research/ -> the repository, and bench/ for common.py and transfer.py
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from guiapp.core.models import efficientnet_lite as lite  # noqa: E402
from guiapp.core.models import load_model  # noqa: E402

# (channels, input side, kernel, stride): Lite0's depthwise layers at a DI-enlarged input.
SHAPES = [(96, 133, 3, 2), (144, 66, 3, 1), (144, 66, 5, 2), (240, 33, 5, 1), (240, 33, 3, 2),
          (480, 17, 3, 1), (672, 17, 5, 1), (672, 17, 5, 2), (1152, 9, 5, 1)]


def conv_ms(x: torch.Tensor, w: torch.Tensor, stride: int, reps: int) -> float:
    x = x.contiguous(memory_format=torch.channels_last).requires_grad_(True)
    w = w.contiguous(memory_format=torch.channels_last)
    for _ in range(3):
        y = F.conv2d(x, w, None, stride, 0, 1, w.shape[0])
        torch.autograd.grad(y, x, torch.ones_like(y))
    start = time.process_time()
    for _ in range(reps):
        y = F.conv2d(x, w, None, stride, 0, 1, w.shape[0])
        torch.autograd.grad(y, x, torch.ones_like(y))
    return (time.process_time() - start) / reps * 1000


def strided_ways_ms(c: int, side: int, k: int, reps: int) -> tuple[float, float]:
    """A strided depthwise convolution in a bfloat16 network: (float32 with the casts,
    stride-1 bfloat16 sampled), forward+backward, ms."""
    conv = lite.SameConv2d(c, c, k, stride=2, groups=c, bias=True).to(memory_format=torch.channels_last)
    conv.requires_grad_(False)
    x = torch.randn(1, c, side, side).bfloat16().contiguous(memory_format=torch.channels_last)

    def timed(fn) -> float:
        v = x.detach().requires_grad_(True)
        for _ in range(3):
            torch.autograd.grad(fn(v).float().sum(), v)
        start = time.process_time()
        for _ in range(reps):
            torch.autograd.grad(fn(v).float().sum(), v)
        return (time.process_time() - start) / reps * 1000

    def with_casts(v: torch.Tensor) -> torch.Tensor:
        return conv._same_conv(v.float()).bfloat16()

    def sampled(v: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return conv._strided_by_dense(v)

    return timed(with_casts), timed(sampled)


def all_depthwise_float32(self: lite.SameConv2d, x: torch.Tensor) -> torch.Tensor:
    """The earlier policy: every depthwise convolution float32 under CPU autocast."""
    if self.groups > 1 and torch.is_autocast_enabled("cpu"):
        with torch.autocast("cpu", enabled=False):
            return self._same_conv(x.float())
    return self._same_conv(x)


def strided_depthwise_float32(self: lite.SameConv2d, x: torch.Tensor) -> torch.Tensor:
    """The second policy: strided depthwise convolutions float32, the rest bfloat16."""
    if self.groups > 1 and self.stride != (1, 1) and torch.is_autocast_enabled("cpu"):
        with torch.autocast("cpu", enabled=False):
            return self._same_conv(x.float())
    return self._same_conv(x)


def passes_ms(models, reps: int) -> float:
    """Per iteration: both surrogates' forward+backward, the sizes DI and the views draw."""
    gen = torch.Generator().manual_seed(0)
    sides = [(224, 246), (240, 264)]
    start = time.process_time()
    for r in range(reps):
        for m, (low, high) in zip(models, sides, strict=True):
            side = int(torch.randint(low, high + 1, (1,), generator=gen))
            x = torch.rand(1, 3, side, side, generator=gen).requires_grad_(True)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits = m.head(m.features(x))
            torch.autograd.grad(logits.float()[0, r % 1000], x)
    return (time.process_time() - start) / reps * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, oneDNN bf16: {torch.backends.mkldnn.is_available()}")
    print("channels  side  kernel  stride  float32 ms  bfloat16 ms")
    for c, side, k, s in SHAPES:
        x, w = torch.randn(1, c, side, side), torch.randn(c, 1, k, k)
        f32 = conv_ms(x, w, s, args.reps * 2)
        bf16 = conv_ms(x.bfloat16(), w.bfloat16(), s, args.reps * 2)
        print(f"{c:8d}  {side:4d}  {k:6d}  {s:6d}  {f32:10.2f}  {bf16:11.2f}")
    print("strided, in a bfloat16 network: channels  side  kernel  float32+casts ms  stride-1 bf16 sampled ms")
    for c, side, k, s in SHAPES:
        if s == 2:
            casts, sampled = strided_ways_ms(c, side, k, args.reps * 2)
            print(f"{c:8d}  {side:4d}  {k:6d}  {casts:16.2f}  {sampled:24.2f}")
    models = [load_model(n, "cpu") for n in ("efficientnet-lite0", "efficientnet-lite1")]
    shipped = lite.SameConv2d.forward
    policies = {"every depthwise float32": all_depthwise_float32,
                "strided depthwise float32": strided_depthwise_float32, "shipped": shipped}
    rows: dict[str, list[float]] = {name: [] for name in policies}
    passes_ms(models, 2)  # warm-up
    for _ in range(args.rounds):
        for name, forward in policies.items():
            lite.SameConv2d.forward = forward  # type: ignore[method-assign]
            rows[name].append(passes_ms(models, args.reps))
    lite.SameConv2d.forward = shipped  # type: ignore[method-assign]
    first = rows["every depthwise float32"]
    for name, values in rows.items():
        ratio = statistics.median(v / f for v, f in zip(values, first, strict=True))
        print(f"{name}: median {statistics.median(values):.1f} ms per iteration "
              f"({', '.join(f'{v:.1f}' for v in values)}); ratio to every-float32 {ratio:.2f}")


if __name__ == "__main__":
    main()
