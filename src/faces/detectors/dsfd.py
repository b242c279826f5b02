"""DSFD as NTechLab ran it (``../shared/spec/ntechlab_detail.md`` §1.2, §5): one anchor per location (cfg
``widerface_640``: sizes 16..512 at strides 4..128, aspect ratio 1.5, clipped), score > 0.01, the 5000 best into
NMS at IoU 0.3, keep score > 0.3. Training-time input: :class:`AreaResize` (512² area, INTER_AREA); prediction-time
input: :class:`LongSideResizePad` (longer side 512, padded to 32)."""

from __future__ import annotations

import math

import torch
from torch import nn

from src.faces.detectors.base import Frames
from src.faces.detectors.ssd import SSDDetector
from src.faces.detectors.torch_detector import decode_boxes
from src.faces.detectors.transforms import AreaResize, InputTransform
from src.faces.detectors.weights import WeightsFile

STEPS = (4, 8, 16, 32, 64, 128)
MIN_SIZES = (16, 32, 64, 128, 256, 512)
ASPECT_RATIO = 1.5
VARIANCES = (0.1, 0.2)


def dsfd_priors(feature_sizes: list[tuple[int, int]], image_hw: tuple[int, int]) -> torch.Tensor:
    """One anchor (cx, cy, w, h) per feature-map cell, normalised by the network input size and clipped to [0, 1];
    taller than wide by the aspect ratio (w = s / sqrt(1.5), h = s * sqrt(1.5))."""
    height, width = image_hw
    levels = []
    for (rows, cols), step, size in zip(feature_sizes, STEPS, MIN_SIZES, strict=True):
        cy, cx = torch.meshgrid(
            (torch.arange(rows, dtype=torch.float64) + 0.5) * step / height,
            (torch.arange(cols, dtype=torch.float64) + 0.5) * step / width,
            indexing="ij",
        )
        w = torch.full_like(cx, size / width / math.sqrt(ASPECT_RATIO))
        h = torch.full_like(cy, size / height * math.sqrt(ASPECT_RATIO))
        levels.append(torch.stack([cx, cy, w, h], dim=-1).reshape(-1, 4))
    return torch.cat(levels).clamp(0.0, 1.0).float()


class DSFDDetector(SSDDetector):
    """DSFD ResNet-152 with SSD decoding and torchvision NMS (no landmarks)."""

    def __init__(
        self,
        net: nn.Module,
        weights: WeightsFile | dict | None = None,
        name: str = "dsfd",
        transform: InputTransform | None = None,
        confidence_threshold: float = 0.01,
        top_k: int = 5000,
        nms_threshold: float = 0.3,
        keep_threshold: float = 0.3,
        batch_size: int = 4,
        **common,  # mean_bgr, device, fp16: see SSDDetector
    ):
        transform = transform or AreaResize()
        thresholds = (confidence_threshold, nms_threshold, keep_threshold)
        super().__init__(net, transform, name, *thresholds, batch_size, top_k=top_k, weights=weights, **common)

    def _decode(self, frames: Frames) -> tuple[torch.Tensor, torch.Tensor, None]:
        inputs = self.transform(frames, self.mean_bgr, self.device, self.dtype)
        loc, logits, feature_sizes = self.inference_net(inputs.images)
        image_hw = tuple(inputs.images.shape[-2:])
        priors = self.cached_priors((tuple(feature_sizes), image_hw), lambda: dsfd_priors(feature_sizes, image_hw))
        # NTech scales the boxes (normalised to the padded input) by the unpadded size: exact when no padding.
        in_h, in_w = inputs.size
        scale = torch.tensor([in_w, in_h, in_w, in_h], device=self.device, dtype=torch.float32) / inputs.factor
        boxes = decode_boxes(loc.float(), priors, VARIANCES) * scale
        return boxes, logits.float().softmax(dim=-1)[..., 1], None
