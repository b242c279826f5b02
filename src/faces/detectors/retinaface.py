"""RetinaFace as RobustForensics ran it (``../shared/spec/robustforensics.md`` §2, parity recipe in
``spec/reference/README.md``): shorter side 400, score > 0.02, NMS 0.4 on source-pixel boxes, keep score >= 0.8."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torchvision
from torch import nn

from src.faces.detectors.base import FrameDetections
from src.faces.detectors.torch_detector import BatchedDetector, decode_boxes, decode_landmarks, load_network
from src.faces.detectors.transforms import InputTransform, ShortSideResize
from src.faces.detectors.weights import WeightsFile

STEPS = (8, 16, 32)
MIN_SIZES = ((16, 32), (64, 128), (256, 512))
VARIANCES = (0.1, 0.2)


def retinaface_priors(grid_hw: tuple[int, int], norm_hw: tuple[int, int]) -> torch.Tensor:
    """Anchors (P, 4) cx, cy, w, h for a network input of ``grid_hw`` pixels, normalised by ``norm_hw``.

    RobustForensics normalises by the truncated resized size ``(int(H*f), int(W*f))`` while the network sees the
    rounded one; both agree on every DFDC resolution. Computed in float64 like the reference, stored as float32.
    """
    norm_h, norm_w = norm_hw
    levels = []
    for step, sizes in zip(STEPS, MIN_SIZES, strict=True):
        rows, cols = math.ceil(grid_hw[0] / step), math.ceil(grid_hw[1] / step)
        cy, cx = torch.meshgrid(
            (torch.arange(rows, dtype=torch.float64) + 0.5) * step / norm_h,
            (torch.arange(cols, dtype=torch.float64) + 0.5) * step / norm_w,
            indexing="ij",
        )
        anchors = [
            torch.stack([cx, cy, torch.full_like(cx, s / norm_w), torch.full_like(cy, s / norm_h)], dim=-1)
            for s in sizes
        ]
        levels.append(torch.stack(anchors, dim=2).reshape(-1, 4))
    return torch.cat(levels).float()


class RetinaFaceDetector(BatchedDetector):
    """RetinaFace with SSD decoding and torchvision NMS; landmarks included."""

    def __init__(
        self,
        net: nn.Module,
        weights: WeightsFile | dict | None = None,
        name: str = "retinaface_mnet",
        transform: InputTransform | None = None,
        confidence_threshold: float = 0.02,
        nms_threshold: float = 0.4,
        keep_threshold: float = 0.8,
        mean_bgr: tuple[float, float, float] = (104.0, 117.0, 123.0),
        device: str = "auto",
        fp16: bool = False,
        batch_size: int = 8,
    ):
        super().__init__(name, device, fp16, batch_size)
        self.weights = None if weights is None else WeightsFile.of(weights, name)
        self.net = load_network(net, self.weights).to(self.device, self.dtype)
        self.transform = transform or ShortSideResize()
        self.confidence_threshold = confidence_threshold
        self.nms_threshold = nms_threshold
        self.keep_threshold = keep_threshold
        self.mean_bgr = tuple(mean_bgr)
        self._priors: dict[tuple[int, int, int, int], torch.Tensor] = {}

    @property
    def config(self) -> dict[str, Any]:
        return super().config | {
            "weights": None if self.weights is None else self.weights.to_dict(),
            "transform": self.transform.config,
            "confidence_threshold": self.confidence_threshold,
            "nms_threshold": self.nms_threshold,
            "keep_threshold": self.keep_threshold,
            "mean_bgr": list(self.mean_bgr),
        }

    def priors(self, grid_hw: tuple[int, int], norm_hw: tuple[int, int]) -> torch.Tensor:
        key = (*grid_hw, *norm_hw)
        if key not in self._priors:
            self._priors[key] = retinaface_priors(grid_hw, norm_hw).to(self.device)
        return self._priors[key]

    def _detect_batch(self, frames: np.ndarray) -> list[FrameDetections]:
        height, width = frames.shape[1:3]
        inputs = self.transform(frames, self.mean_bgr, self.device, self.dtype)
        loc, logits, landmark_offsets = (t.float() for t in self.net(inputs.images))
        grid_hw = tuple(inputs.images.shape[-2:])
        priors = self.priors(grid_hw, (int(height * inputs.factor), int(width * inputs.factor)))
        in_h, in_w = inputs.size
        scale = torch.tensor([in_w, in_h], device=self.device, dtype=torch.float32)
        boxes = decode_boxes(loc, priors, VARIANCES) * scale.repeat(2) / inputs.factor
        points = decode_landmarks(landmark_offsets, priors, VARIANCES[0]) * scale / inputs.factor
        scores = logits.softmax(dim=-1)[..., 1]
        return [self._select(boxes[i], scores[i], points[i]) for i in range(len(frames))]

    def _select(self, boxes: torch.Tensor, scores: torch.Tensor, points: torch.Tensor) -> FrameDetections:
        candidates = torch.nonzero(scores > self.confidence_threshold).squeeze(1)
        boxes, scores, points = boxes[candidates], scores[candidates], points[candidates]
        keep = torchvision.ops.nms(boxes, scores, self.nms_threshold)  # sorted by decreasing score
        keep = keep[scores[keep] >= self.keep_threshold]
        return FrameDetections(boxes[keep].cpu().numpy(), scores[keep].cpu().numpy(), points[keep].cpu().numpy())
