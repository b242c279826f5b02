"""DSFD as NTechLab ran it (``../shared/spec/ntechlab_detail.md`` §1.2, §5): one anchor per location (cfg
``widerface_640``: sizes 16..512 at strides 4..128, aspect ratio 1.5, clipped), score > 0.01, the 5000 best into
NMS at IoU 0.3, keep score > 0.3. Training-time input: :class:`AreaResize` (512² area, INTER_AREA); prediction-time
input: :class:`LongSideResizePad` (longer side 512, padded to 32)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torchvision
from torch import nn

from src.faces.detectors.base import FrameDetections
from src.faces.detectors.torch_detector import BatchedDetector, decode_boxes, load_network
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


class DSFDDetector(BatchedDetector):
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
        mean_bgr: tuple[float, float, float] = (104.0, 117.0, 123.0),
        device: str = "auto",
        fp16: bool = False,
        batch_size: int = 4,
    ):
        super().__init__(name, device, fp16, batch_size)
        self.weights = None if weights is None else WeightsFile.of(weights, name)
        self.net = load_network(net, self.weights).to(self.device, self.dtype)
        self.transform = transform or AreaResize()
        self.confidence_threshold = confidence_threshold
        self.top_k = top_k
        self.nms_threshold = nms_threshold
        self.keep_threshold = keep_threshold
        self.mean_bgr = tuple(mean_bgr)
        self._priors: dict[tuple, torch.Tensor] = {}

    @property
    def config(self) -> dict[str, Any]:
        return super().config | {
            "weights": None if self.weights is None else self.weights.to_dict(),
            "transform": self.transform.config,
            "confidence_threshold": self.confidence_threshold,
            "top_k": self.top_k,
            "nms_threshold": self.nms_threshold,
            "keep_threshold": self.keep_threshold,
            "mean_bgr": list(self.mean_bgr),
        }

    def priors(self, feature_sizes: list[tuple[int, int]], image_hw: tuple[int, int]) -> torch.Tensor:
        key = (tuple(feature_sizes), image_hw)
        if key not in self._priors:
            self._priors[key] = dsfd_priors(feature_sizes, image_hw).to(self.device)
        return self._priors[key]

    def _detect_batch(self, frames: np.ndarray) -> list[FrameDetections]:
        inputs = self.transform(frames, self.mean_bgr, self.device, self.dtype)
        loc, logits, feature_sizes = self.net(inputs.images)
        priors = self.priors(feature_sizes, tuple(inputs.images.shape[-2:]))
        # NTech scales the boxes (normalised to the padded input) by the unpadded size: exact when no padding.
        in_h, in_w = inputs.size
        scale = torch.tensor([in_w, in_h, in_w, in_h], device=self.device, dtype=torch.float32) / inputs.factor
        boxes = decode_boxes(loc.float(), priors, VARIANCES) * scale
        scores = logits.float().softmax(dim=-1)[..., 1]
        return [self._select(boxes[i], scores[i]) for i in range(len(frames))]

    def _select(self, boxes: torch.Tensor, scores: torch.Tensor) -> FrameDetections:
        candidates = torch.nonzero(scores > self.confidence_threshold).squeeze(1)
        candidates = candidates[scores[candidates].argsort(descending=True)[: self.top_k]]
        boxes, scores = boxes[candidates], scores[candidates]
        keep = torchvision.ops.nms(boxes, scores, self.nms_threshold)
        keep = keep[scores[keep] > self.keep_threshold]
        return FrameDetections(boxes[keep].cpu().numpy(), scores[keep].cpu().numpy())
