"""SlowFast-R50 as trained by RobustForensics (spec robustforensics.md §6.1, "faithful re-implementation" 8).

The seed's variant of SlowFast (Hara-style 3D-ResNet code, not PySlowFast):
- fast path sees all T frames, 8 stem channels (beta = 1/8), a 5×7×7 stem and a 3×1×1 temporal conv at the head of
  every bottleneck; no temporal striding anywhere;
- slow path sees frames ``::alpha`` (T/4), a 1×7×7 stem with 64 channels, 3×1×1 head convs only in its last two
  stages (res4/res5);
- before each slow stage the fast features go through a lateral Conv3d (5,1,1) / stride (alpha,1,1) / pad (2,0,0)
  that doubles their channels, and are concatenated to the slow features;
- head: global average pool of each path, concat slow+fast (2048 + 256 = 2304), Dropout 0.5, Linear(2304, classes).

Module names follow the seed's state dict (``fast_res1`` … ``slow_res4``, ``Tconv1`` … ``Tconv4``,
``downsample.0`` / ``downsample_bn``) so its checkpoints load without a key map.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

EXPANSION = 4


class Bottleneck3d(nn.Module):
    """1×1 (or t×1×1) → 1×3×3 (spatial stride) → 1×1 ×4 bottleneck with a projection shortcut when needed."""

    def __init__(self, in_channels: int, planes: int, stride: int = 1, temporal_kernel: int = 1) -> None:
        super().__init__()
        out_channels = planes * EXPANSION
        self.conv1 = nn.Conv3d(
            in_channels, planes, (temporal_kernel, 1, 1), padding=(temporal_kernel // 2, 0, 0), bias=False
        )
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = nn.Conv3d(planes, planes, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False)
        self.bn2 = nn.BatchNorm3d(planes)
        self.conv3 = nn.Conv3d(planes, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm3d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Sequential | None = None
        if stride != 1 or in_channels != out_channels:
            # A one-conv Sequential plus a separate BN: the seed's checkpoint keys are `downsample.0.weight` and
            # `downsample_bn.*`.
            self.downsample = nn.Sequential(
                nn.Conv3d(in_channels, out_channels, 1, stride=(1, stride, stride), bias=False)
            )
            self.downsample_bn = nn.BatchNorm3d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample_bn(self.downsample(x))
        return self.relu(out + shortcut)


def _stage(in_channels: int, planes: int, blocks: int, stride: int, temporal_kernel: int) -> nn.Sequential:
    layers = [Bottleneck3d(in_channels, planes, stride, temporal_kernel)]
    layers += [Bottleneck3d(planes * EXPANSION, planes, 1, temporal_kernel) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class SlowFast(nn.Module):
    """Two-pathway 3D ResNet; input (B, 3, T, H, W), output logits (B, num_classes)."""

    def __init__(
        self,
        layers: Sequence[int] = (3, 4, 6, 3),
        num_classes: int = 2,
        alpha: int = 4,
        beta: float = 0.125,
        dropout: float = 0.5,
        slow_temporal_kernels: Sequence[int] = (1, 1, 3, 3),
        fast_temporal_kernels: Sequence[int] = (3, 3, 3, 3),
    ) -> None:
        super().__init__()
        self.alpha = alpha
        widths = (64, 128, 256, 512)
        strides = (1, 2, 2, 2)
        fast_stem = int(64 * beta)

        self.fast_conv1 = nn.Conv3d(3, fast_stem, (5, 7, 7), stride=(1, 2, 2), padding=(2, 3, 3), bias=False)
        self.fast_bn1 = nn.BatchNorm3d(fast_stem)
        self.fast_relu = nn.ReLU(inplace=True)
        self.fast_maxpool = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        fast_channels = [fast_stem]  # fast width entering each stage, then after the last one
        for i, (width, n, stride, kt) in enumerate(zip(widths, layers, strides, fast_temporal_kernels, strict=True)):
            self.add_module(f"fast_res{i + 1}", _stage(fast_channels[-1], int(width * beta), n, stride, kt))
            fast_channels.append(int(width * beta) * EXPANSION)

        self.slow_conv1 = nn.Conv3d(3, 64, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False)
        self.slow_bn1 = nn.BatchNorm3d(64)
        self.slow_relu = nn.ReLU(inplace=True)
        self.slow_maxpool = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        slow_channels = 64
        for i, (width, n, stride, kt) in enumerate(zip(widths, layers, strides, slow_temporal_kernels, strict=True)):
            lateral = 2 * fast_channels[i]
            self.add_module(f"slow_res{i + 1}", _stage(slow_channels + lateral, width, n, stride, kt))
            slow_channels = width * EXPANSION

        for i in range(4):
            lateral = nn.Conv3d(
                fast_channels[i], 2 * fast_channels[i], (5, 1, 1), stride=(alpha, 1, 1), padding=(2, 0, 0), bias=False
            )
            self.add_module(f"Tconv{i + 1}", lateral)

        self.dp = nn.Dropout(dropout)
        self.fc = nn.Linear(slow_channels + fast_channels[-1], num_classes)
        self.num_features = slow_channels + fast_channels[-1]

        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm3d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward_features(self, clip: torch.Tensor) -> torch.Tensor:
        """Pooled (B, 2304) features: slow path first, then fast, as the seed concatenates them."""
        fast = self.fast_maxpool(self.fast_relu(self.fast_bn1(self.fast_conv1(clip))))
        laterals = []
        for i in range(1, 5):
            laterals.append(getattr(self, f"Tconv{i}")(fast))
            fast = getattr(self, f"fast_res{i}")(fast)

        slow = self.slow_maxpool(self.slow_relu(self.slow_bn1(self.slow_conv1(clip[:, :, :: self.alpha]))))
        for i in range(1, 5):
            slow = getattr(self, f"slow_res{i}")(torch.cat([slow, laterals[i - 1]], dim=1))
        return torch.cat([slow.mean(dim=(2, 3, 4)), fast.mean(dim=(2, 3, 4))], dim=1)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dp(self.forward_features(clip)))


def slowfast_r50(num_classes: int = 2, alpha: int = 4, beta: float = 0.125, dropout: float = 0.5) -> SlowFast:
    """The seed's ``slowfast50``: Bottleneck ×[3, 4, 6, 3]."""
    return SlowFast((3, 4, 6, 3), num_classes=num_classes, alpha=alpha, beta=beta, dropout=dropout)
