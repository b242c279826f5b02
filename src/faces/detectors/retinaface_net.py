"""RetinaFace (MobileNet-0.25 and ResNet-50 backbones), laid out so that the public ``mobilenet0.25_Final.pth`` and
``Resnet50_Final.pth`` checkpoints load strictly.

Backbone features at strides 8/16/32 -> FPN (1x1 lateral convs, nearest upsampling, 3x3 merge) -> one SSH context
module per level -> per-level 1x1 heads with 2 anchors per location: class (2 logits), box (4), landmarks (10).
Outputs are concatenated over levels in the order level, row, column, anchor, matching the priors.
"""

from __future__ import annotations

import torch
import torchvision
from torch import nn
from torchvision.models._utils import IntermediateLayerGetter

ANCHORS_PER_LOCATION = 2


def conv_bn(
    inp: int, out: int, stride: int = 1, leaky: float = 0.0, kernel: int = 3, relu: bool = True
) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(inp, out, kernel, stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(out),
    ]
    if relu:
        layers.append(nn.LeakyReLU(negative_slope=leaky, inplace=True))
    return nn.Sequential(*layers)


def conv_dw(inp: int, out: int, stride: int, leaky: float = 0.1) -> nn.Sequential:
    """Depthwise 3x3 + pointwise 1x1, each with BN and leaky ReLU (keys ``.0, .1, .3, .4``)."""
    return nn.Sequential(
        nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False),
        nn.BatchNorm2d(inp),
        nn.LeakyReLU(negative_slope=leaky, inplace=True),
        nn.Conv2d(inp, out, 1, 1, 0, bias=False),
        nn.BatchNorm2d(out),
        nn.LeakyReLU(negative_slope=leaky, inplace=True),
    )


class MobileNetV1x025(nn.Module):
    """MobileNet-V1 at width 0.25 in three stages (outputs 64/128/256 channels at strides 8/16/32)."""

    def __init__(self) -> None:
        super().__init__()
        self.stage1 = nn.Sequential(
            conv_bn(3, 8, 2, leaky=0.1),
            conv_dw(8, 16, 1),
            conv_dw(16, 32, 2),
            conv_dw(32, 32, 1),
            conv_dw(32, 64, 2),
            conv_dw(64, 64, 1),
        )
        self.stage2 = nn.Sequential(conv_dw(64, 128, 2), *(conv_dw(128, 128, 1) for _ in range(5)))
        self.stage3 = nn.Sequential(conv_dw(128, 256, 2), conv_dw(256, 256, 1))


class FPN(nn.Module):
    def __init__(self, in_channels: list[int], out_channels: int):
        super().__init__()
        leaky = 0.1 if out_channels <= 64 else 0.0
        self.output1 = conv_bn(in_channels[0], out_channels, leaky=leaky, kernel=1)
        self.output2 = conv_bn(in_channels[1], out_channels, leaky=leaky, kernel=1)
        self.output3 = conv_bn(in_channels[2], out_channels, leaky=leaky, kernel=1)
        self.merge1 = conv_bn(out_channels, out_channels, leaky=leaky)
        self.merge2 = conv_bn(out_channels, out_channels, leaky=leaky)

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        out1, out2, out3 = self.output1(features[0]), self.output2(features[1]), self.output3(features[2])
        out2 = self.merge2(out2 + nn.functional.interpolate(out3, size=out2.shape[-2:], mode="nearest"))
        out1 = self.merge1(out1 + nn.functional.interpolate(out2, size=out1.shape[-2:], mode="nearest"))
        return [out1, out2, out3]


class SSH(nn.Module):
    """Single-stage headless context module: 3x3, 5x5 (two 3x3) and 7x7 (three 3x3) branches, concatenated."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        leaky = 0.1 if out_channels <= 64 else 0.0
        quarter = out_channels // 4
        self.conv3X3 = conv_bn(in_channels, out_channels // 2, relu=False)
        self.conv5X5_1 = conv_bn(in_channels, quarter, leaky=leaky)
        self.conv5X5_2 = conv_bn(quarter, quarter, relu=False)
        self.conv7X7_2 = conv_bn(quarter, quarter, leaky=leaky)
        self.conv7x7_3 = conv_bn(quarter, quarter, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch5 = self.conv5X5_1(x)
        branch7 = self.conv7X7_2(branch5)
        out = torch.cat([self.conv3X3(x), self.conv5X5_2(branch5), self.conv7x7_3(branch7)], dim=1)
        return torch.relu(out)


class Head(nn.Module):
    """A 1x1 conv predicting ``values`` numbers per anchor, flattened to (N, H*W*anchors, values)."""

    def __init__(self, in_channels: int, values: int):
        super().__init__()
        self.values = values
        self.conv1x1 = nn.Conv2d(in_channels, ANCHORS_PER_LOCATION * values, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv1x1(x).permute(0, 2, 3, 1).reshape(x.shape[0], -1, self.values)


class RetinaFace(nn.Module):
    """``forward(images) -> (box offsets (N, P, 4), class logits (N, P, 2), landmark offsets (N, P, 10))``."""

    def __init__(self, body: nn.Module, in_channels: list[int], out_channels: int):
        super().__init__()
        self.body = body
        self.fpn = FPN(in_channels, out_channels)
        self.ssh1 = SSH(out_channels, out_channels)
        self.ssh2 = SSH(out_channels, out_channels)
        self.ssh3 = SSH(out_channels, out_channels)
        self.ClassHead = nn.ModuleList(Head(out_channels, 2) for _ in range(3))
        self.BboxHead = nn.ModuleList(Head(out_channels, 4) for _ in range(3))
        self.LandmarkHead = nn.ModuleList(Head(out_channels, 10) for _ in range(3))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        levels = self.fpn(list(self.body(images).values()))
        features = [self.ssh1(levels[0]), self.ssh2(levels[1]), self.ssh3(levels[2])]
        boxes = torch.cat([head(f) for head, f in zip(self.BboxHead, features, strict=True)], dim=1)
        logits = torch.cat([head(f) for head, f in zip(self.ClassHead, features, strict=True)], dim=1)
        landmarks = torch.cat([head(f) for head, f in zip(self.LandmarkHead, features, strict=True)], dim=1)
        return boxes, logits, landmarks


def retinaface_mobilenet025() -> RetinaFace:
    """The RobustForensics detector (``mobilenet0.25_Final.pth``): 64 FPN channels."""
    body = IntermediateLayerGetter(MobileNetV1x025(), {"stage1": "1", "stage2": "2", "stage3": "3"})
    return RetinaFace(body, [64, 128, 256], 64)


def retinaface_resnet50() -> RetinaFace:
    """RetinaFace-R50 (``Resnet50_Final.pth``): torchvision ResNet-50 layers 2-4, 256 FPN channels."""
    body = IntermediateLayerGetter(
        torchvision.models.resnet50(weights=None), {"layer2": "1", "layer3": "2", "layer4": "3"}
    )
    return RetinaFace(body, [512, 1024, 2048], 256)
