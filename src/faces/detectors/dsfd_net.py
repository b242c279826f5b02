"""DSFD (Dual Shot Face Detector) with a ResNet-152 backbone, the network of ``WIDERFace_DSFD_RES152.pth`` that
NTechLab ran (``../shared/spec/ntechlab_detail.md`` §1.2); its state dict has exactly the keys and shapes listed
in ``spec/reference/dsfd_res152.keys.txt``.

Test-time path (the "second shot"): ResNet-152 stages + two extra stride-2 stages give six maps at strides
4..128 -> the three finest are enhanced top-down by an FPN whose merge is *upsample-and-multiply* -> a feature
enhance module (FEM: dilated 3x3 branches, 512 channels out) on every level -> per-level heads of three 3x3 convs
+ a 1x1. Heads predict "progressive anchor" outputs for face, head and body; inference uses the face channels
only (the first 4 box values and the first 2 class values after max-in-out), one anchor per location.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

FEATURE_CHANNELS = (256, 512, 1024, 2048, 512, 256)
HEAD_CHANNELS = 512  # every FEM outputs 256 + 128 + 128
# Per level: box outputs (face, +head, +body: 4 each) and class outputs (face max-in-out 4 or 6, + 2 per extra part)
LOC_OUTPUTS = (4, 8, 12, 12, 12, 12)
CONF_OUTPUTS = (4, 6, 8, 8, 8, 8)


def extra_stage(inp: int, mid: int, out: int) -> nn.Sequential:
    """1x1 reduction + stride-2 3x3, each with BN and ReLU (``layer5``/``layer6``)."""
    return nn.Sequential(
        nn.Conv2d(inp, mid, 1),
        nn.BatchNorm2d(mid),
        nn.ReLU(inplace=True),
        nn.Conv2d(mid, out, 3, stride=2, padding=1),
        nn.BatchNorm2d(out),
        nn.ReLU(inplace=True),
    )


class FEM(nn.Module):
    """Feature enhance module: a 3x3 branch, a dilated branch, and a dilated-then-3x3 branch, concatenated."""

    def __init__(self, channels: int):
        super().__init__()
        self.cpm1 = nn.Conv2d(channels, 256, 3, padding=1)
        self.cpm2 = nn.Conv2d(channels, 256, 3, padding=2, dilation=2)
        self.cpm3 = nn.Conv2d(256, 128, 3, padding=1)
        self.cpm4 = nn.Conv2d(256, 128, 3, padding=2, dilation=2)
        self.cpm5 = nn.Conv2d(128, 128, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        wide = F.relu(self.cpm1(x))
        dilated = F.relu(self.cpm2(x))
        deeper = F.relu(self.cpm3(dilated))
        deepest = F.relu(self.cpm5(F.relu(self.cpm4(dilated))))
        return torch.cat([wide, deeper, deepest], dim=1)


class DeepHead(nn.Module):
    def __init__(self, inp: int, out: int):
        super().__init__()
        mid = min(inp, 256)
        self.conv1 = nn.Conv2d(inp, mid, 3, padding=1)
        self.conv2 = nn.Conv2d(mid, mid, 3, padding=1)
        self.conv3 = nn.Conv2d(mid, mid, 3, padding=1)
        self.conv4 = nn.Conv2d(mid, out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv4(F.relu(self.conv3(F.relu(self.conv2(F.relu(self.conv1(x)))))))


def max_in_out(logits: torch.Tensor, level: int) -> torch.Tensor:
    """Face (background, face) logits from the first 4 class channels: on the finest level the background is the
    max of 3 background channels ("max-out"), on the others the face is the max of 3 face channels ("max-in")."""
    pooled = logits[:, :3].amax(dim=1, keepdim=True)
    single = logits[:, 3:4]
    return torch.cat([pooled, single] if level == 0 else [single, pooled], dim=1)


class DSFD(nn.Module):
    """``forward(images) -> (box offsets (N, P, 4), class logits (N, P, 2), feature map sizes [(h, w)] * 6)``."""

    def __init__(self) -> None:
        super().__init__()
        resnet = torchvision.models.resnet152(weights=None)
        self.layer1 = nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool, resnet.layer1)
        self.layer2 = nn.Sequential(resnet.layer2)
        self.layer3 = nn.Sequential(resnet.layer3)
        self.layer4 = nn.Sequential(resnet.layer4)
        self.layer5 = extra_stage(2048, 512, 512)
        self.layer6 = extra_stage(512, 128, 256)
        c = FEATURE_CHANNELS
        self.latlayer3 = nn.Conv2d(c[3], c[2], 1)
        self.latlayer2 = nn.Conv2d(c[2], c[1], 1)
        self.latlayer1 = nn.Conv2d(c[1], c[0], 1)
        self.smooth3 = nn.Conv2d(c[2], c[2], 1)
        self.smooth2 = nn.Conv2d(c[1], c[1], 1)
        self.smooth1 = nn.Conv2d(c[0], c[0], 1)
        self.cpm3_3, self.cpm4_3, self.cpm5_3, self.cpm7, self.cpm6_2, self.cpm7_2 = (FEM(ch) for ch in c)
        self.loc = nn.ModuleList(DeepHead(HEAD_CHANNELS, n) for n in LOC_OUTPUTS)
        self.conf = nn.ModuleList(DeepHead(HEAD_CHANNELS, n) for n in CONF_OUTPUTS)

    @staticmethod
    def _upsample_product(coarse: torch.Tensor, fine: torch.Tensor) -> torch.Tensor:
        return F.interpolate(coarse, size=fine.shape[-2:], mode="bilinear", align_corners=False) * fine

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[tuple[int, int]]]:
        conv3 = self.layer1(images)
        conv4 = self.layer2(conv3)
        conv5 = self.layer3(conv4)
        fc7 = self.layer4(conv5)
        conv6 = self.layer5(fc7)
        conv7 = self.layer6(conv6)
        fpn5 = self._upsample_product(self.latlayer3(fc7), self.smooth3(conv5))
        fpn4 = self._upsample_product(self.latlayer2(fpn5), self.smooth2(conv4))
        fpn3 = self._upsample_product(self.latlayer1(fpn4), self.smooth1(conv3))
        enhance = (self.cpm3_3, self.cpm4_3, self.cpm5_3, self.cpm7, self.cpm6_2, self.cpm7_2)
        sources = [fem(x) for fem, x in zip(enhance, (fpn3, fpn4, fpn5, fc7, conv6, conv7), strict=True)]
        boxes, logits = [], []
        for level, (x, loc, conf) in enumerate(zip(sources, self.loc, self.conf, strict=True)):
            boxes.append(loc(x)[:, :4].permute(0, 2, 3, 1).reshape(x.shape[0], -1, 4))
            logits.append(max_in_out(conf(x), level).permute(0, 2, 3, 1).reshape(x.shape[0], -1, 2))
        sizes = [(x.shape[2], x.shape[3]) for x in sources]
        return torch.cat(boxes, dim=1), torch.cat(logits, dim=1), sizes
