"""TF "same" padding frozen for a nominal image size, as lukemelas ``efficientnet_pytorch`` 0.6.3 does.

Both seeds' EfficientNets (``Conv2dStaticSamePadding``) compute every conv's padding once, from the model's
nominal input size (B0 224, B1 240, B3 300, B7 600), and keep it for any real input size. timm's ``tf_`` models pad
dynamically from the real feature size instead. Where a stride-2 conv sees a feature size whose parity differs from
the nominal one, the two disagree (B0/B1/B3 at 299: the stem and two more convs; the final map is 9×9, not 10×10).
``freeze_same_padding`` swaps timm's dynamic convs for static ones with the seeds' padding.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from timm.layers import Conv2dSame
from torch import nn


class StaticSameConv2d(nn.Conv2d):
    """Conv2d behind a fixed zero pad ``(left, right, top, bottom)``; same parameters and keys as ``nn.Conv2d``."""

    def __init__(self, *args, static_pad: tuple[int, int, int, int], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.static_pad = tuple(static_pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(F.pad(x, self.static_pad), self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, static_pad={self.static_pad}"


def same_pad(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TF "same" (before, after) padding of one axis for an input of ``size``."""
    total = max((math.ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def freeze_same_padding(model: nn.Module, image_size: int | tuple[int, int]) -> nn.Module:
    """Replace every ``Conv2dSame`` of a timm model by a :class:`StaticSameConv2d` padded for ``image_size``.

    As in efficientnet_pytorch, the padding of every conv comes from the full nominal image size, not the size
    of the feature map the conv sees (stride-1 convs pad ``(k - 1) / 2`` either way, which timm already does
    statically). In place; returns ``model``.
    """
    height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
    dynamic = [(name, m) for name, m in model.named_modules() if isinstance(m, Conv2dSame)]
    for name, module in dynamic:
        top, bottom = same_pad(height, module.kernel_size[0], module.stride[0], module.dilation[0])
        left, right = same_pad(width, module.kernel_size[1], module.stride[1], module.dilation[1])
        static = StaticSameConv2d(
            module.in_channels,
            module.out_channels,
            module.kernel_size,
            stride=module.stride,
            padding=0,
            dilation=module.dilation,
            groups=module.groups,
            bias=module.bias is not None,
            static_pad=(left, right, top, bottom),
        )
        static.load_state_dict(module.state_dict())
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, static)
    return model
