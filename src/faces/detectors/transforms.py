"""How a batch of RGB uint8 frames becomes the detector network's input tensor.

Both seeds' detectors were trained on BGR images minus a per-channel mean, without scaling; they differ in how
they resize. Each transform here reproduces one seed's resize exactly and reports the scale ``factor``
(network pixels per source pixel) and the ``size`` of the resized content, so boxes map back to source pixels.
"""

from __future__ import annotations

import abc
import math
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from src.faces.detectors.base import Frames


@dataclass
class NetworkInput:
    images: torch.Tensor  # (N, 3, H, W), BGR minus mean, possibly zero-padded at the bottom/right
    factor: float  # resized = source * factor
    size: tuple[int, int]  # (height, width) of the resized frames inside ``images``


class InputTransform(abc.ABC):
    @abc.abstractmethod
    def __call__(
        self, frames: Frames, mean_bgr: tuple[float, float, float], device: torch.device, dtype: torch.dtype
    ) -> NetworkInput:
        """Resize and normalise a batch of same-size RGB uint8 frames (an (N, H, W, 3) array or a list of them)."""

    @property
    def config(self) -> dict[str, Any]:
        return {"name": type(self).__name__, **asdict(self)}  # type: ignore[call-overload]


@dataclass
class _CV2Resize(InputTransform):
    """Resize each uint8 frame with OpenCV by one factor (as both seeds did, on uint8 BGR), then normalise."""

    interpolation: str

    @abc.abstractmethod
    def factor(self, height: int, width: int) -> float: ...

    def __call__(self, frames, mean_bgr, device, dtype) -> NetworkInput:
        factor = self.factor(*frames[0].shape[:2])
        flag = getattr(cv2, f"INTER_{self.interpolation.upper()}")
        # Channels resize independently, so resizing RGB and flipping to BGR afterwards gives the same pixels.
        resized = np.stack([cv2.resize(frame, None, fx=factor, fy=factor, interpolation=flag) for frame in frames])
        images = torch.from_numpy(resized).to(device).permute(0, 3, 1, 2).flip(1).to(dtype)
        images = images - torch.tensor(mean_bgr, device=device, dtype=dtype).view(1, 3, 1, 1)
        return NetworkInput(images, factor, (resized.shape[1], resized.shape[2]))


@dataclass
class ShortSideResize(_CV2Resize):
    """RobustForensics' RetinaFace input: shorter side to ``short_side`` unless the longer side would exceed
    ``max_long_side`` (then longer side to it); bilinear."""

    short_side: int = 400
    max_long_side: int = 2150
    interpolation: str = "linear"

    def factor(self, height: int, width: int) -> float:
        factor = self.short_side / min(height, width)
        if round(factor * max(height, width)) > self.max_long_side:
            factor = self.max_long_side / max(height, width)
        return factor


@dataclass
class AreaResize(_CV2Resize):
    """NTech's training-time DSFD input: scale by ``sqrt(area / (H * W))`` (1920x1080 -> 683x384), INTER_AREA."""

    area: int = 512 * 512
    interpolation: str = "area"

    def factor(self, height: int, width: int) -> float:
        return math.sqrt(self.area / (height * width))


@dataclass
class LongSideResizePad(InputTransform):
    """NTech's prediction-time DSFD input (torchvision's GeneralizedRCNNTransform with min = max = ``size``):
    normalise, bilinear resize so the longer side is ``size``, zero-pad the batch to a multiple of
    ``size_divisible``."""

    size: int = 512
    size_divisible: int = 32

    def __call__(self, frames, mean_bgr, device, dtype) -> NetworkInput:
        frames = np.asarray(frames)  # stacks a list of frames
        height, width = frames.shape[1:3]
        factor = self.size / max(height, width)
        images = torch.from_numpy(frames).to(device).permute(0, 3, 1, 2).flip(1).to(dtype)
        images = images - torch.tensor(mean_bgr, device=device, dtype=dtype).view(1, 3, 1, 1)
        # recompute_scale_factor: sample by the in/out size ratio, as torchvision 0.4 / torch 1.x did.
        images = F.interpolate(
            images, scale_factor=factor, mode="bilinear", align_corners=False, recompute_scale_factor=True
        )
        size = (images.shape[2], images.shape[3])
        pad_h = -size[0] % self.size_divisible
        pad_w = -size[1] % self.size_divisible
        return NetworkInput(F.pad(images, (0, pad_w, 0, pad_h)), factor, size)
