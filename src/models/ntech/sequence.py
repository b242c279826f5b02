"""NTechLab's sequence model: "a 3D convolution added to each EfficientNet block" (spec ntechlab_detail §2.3).

Every inverted-residual block's 1×1 expansion conv (timm ``conv_pw``; lukemelas ``_expand_conv``) becomes a
``Conv3d`` with kernel (3, 1, 1) over the frames of a clip, zero-padded at the clip ends and initialised to the 2-D
weight / 3 per tap, so an ImageNet model starts as "expand the temporal mean of three neighbouring frames". All
other layers stay per frame, and the model gives one logit per frame (no temporal pooling). Batches are clip-major:
frames ``[b * T, (b + 1) * T)`` belong to clip ``b``.
"""

from __future__ import annotations

import torch
from timm.models._efficientnet_blocks import InvertedResidual
from torch import nn


class TemporalConv(nn.Module):
    """A 1×1 ``Conv2d`` applied as a (3, 1, 1) ``Conv3d`` across the ``seq_length`` frames of each clip."""

    def __init__(self, conv: nn.Conv2d, seq_length: int) -> None:
        super().__init__()
        if conv.kernel_size != (1, 1) or conv.stride != (1, 1) or conv.groups != 1 or conv.bias is not None:
            raise ValueError(f"TemporalConv wraps a plain 1×1 conv without bias, got {conv}")
        self.seq_length = seq_length
        self.conv = nn.Conv3d(conv.in_channels, conv.out_channels, (3, 1, 1), padding=(1, 0, 0), bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(conv.weight.unsqueeze(2).expand_as(self.conv.weight) / 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames, channels, height, width = x.shape
        if frames % self.seq_length:
            raise ValueError(f"TemporalConv: batch of {frames} frames is not whole clips of {self.seq_length}")
        x = x.view(frames // self.seq_length, self.seq_length, channels, height, width).transpose(1, 2)
        return self.conv(x).transpose(1, 2).reshape(frames, -1, height, width)


def add_temporal_convs(model: nn.Module, seq_length: int) -> int:
    """Wrap the expansion conv of every inverted-residual block in place; returns how many (51 for B7)."""
    blocks = [m for m in model.modules() if isinstance(m, InvertedResidual)]
    for block in blocks:
        block.conv_pw = TemporalConv(block.conv_pw, seq_length)
    return len(blocks)


class ClipClassifier(nn.Module):
    """Clips (B, T, 3, H, W) → per-frame logits (B, T) (or (B, T, K) for K > 1 classes) through an image backbone.

    With temporal convs inside, T must equal their ``seq_length``; without, this is NTech's frame model, whose
    "clip" is just the frames of one training pair.
    """

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        batch, frames = clips.shape[:2]
        logits = self.backbone(clips.flatten(0, 1))
        return logits.view(batch, frames, -1).squeeze(-1)

    def get_classifier(self) -> nn.Module:
        return self.backbone.get_classifier()

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.backbone.set_grad_checkpointing(enable)
