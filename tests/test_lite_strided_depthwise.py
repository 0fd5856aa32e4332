"""EfficientNet-Lite's strided depthwise convolutions under CPU bfloat16 autocast: large
inputs run as a stride-1 convolution sampled every other output (faster in bfloat16),
which must be the same convolution as TensorFlow's "SAME" stride-2 one."""

import pytest
import torch

from guiapp.core.models import efficientnet_lite as lite
from guiapp.core.models.efficientnet_lite import SameConv2d


@pytest.mark.parametrize(("kernel", "height", "width"), [(3, 132, 132), (5, 132, 131), (3, 133, 140),
                                                          (5, 97, 100), (3, 7, 8)])
def test_strided_by_dense_is_the_same_convolution(kernel, height, width):
    torch.manual_seed(0)
    conv = SameConv2d(6, 6, kernel, stride=2, groups=6, bias=True)
    x = torch.randn(1, 6, height, width)
    reference = conv._same_conv(x)
    dense = conv._strided_by_dense(x)
    assert dense.shape == reference.shape
    assert torch.allclose(dense, reference, atol=1e-5)


def test_autocast_runs_large_strided_depthwise_dense_in_bfloat16_and_small_ones_in_float32(monkeypatch):
    torch.manual_seed(0)
    conv = SameConv2d(8, 8, 3, stride=2, groups=8, bias=True)
    side = int(lite.DENSE_STRIDED_MIN_PIXELS ** 0.5)
    calls = []
    monkeypatch.setattr(SameConv2d, "_strided_by_dense",
                        lambda self, x: calls.append(x.shape[-1]) or SameConv2d._same_conv(self, x))
    large, small = torch.randn(1, 8, side, side), torch.randn(1, 8, side // 2, side // 2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        conv(large)
        out_small = conv(small)
    assert calls == [side]  # only the large input took the dense path
    assert out_small.dtype == torch.float32  # the small one ran float32

    monkeypatch.undo()
    with torch.no_grad():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            fast = conv(large)
        exact = conv._same_conv(large)
    assert fast.dtype == torch.bfloat16
    assert float((fast.float() - exact).abs().max()) < 0.02 * float(exact.abs().max())
