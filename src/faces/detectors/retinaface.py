"""RetinaFace as RobustForensics ran it (``../shared/spec/robustforensics.md`` §2, parity recipe in
``spec/reference/README.md``): shorter side 400, score > 0.02, NMS 0.4 on source-pixel boxes, keep score >= 0.8."""

from __future__ import annotations

import math

import torch
from torch import nn

from src.faces.detectors.base import Frames
from src.faces.detectors.ssd import SSDDetector
from src.faces.detectors.torch_detector import decode_boxes, decode_landmarks
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


class RetinaFaceDetector(SSDDetector):
    """RetinaFace with SSD decoding and torchvision NMS; landmarks included."""

    keep_inclusive = True  # RobustForensics keeps score >= vis_thres
    fold_batchnorm = True  # ~20 % faster on the CPU, the same boxes (tests/test_detectors_reference.py)

    def __init__(
        self,
        net: nn.Module,
        weights: WeightsFile | dict | None = None,
        name: str = "retinaface_mnet",
        transform: InputTransform | None = None,
        confidence_threshold: float = 0.02,
        nms_threshold: float = 0.4,
        keep_threshold: float = 0.8,
        batch_size: int = 8,
        **common,  # mean_bgr, device, fp16: see SSDDetector
    ):
        transform = transform or ShortSideResize()
        thresholds = (confidence_threshold, nms_threshold, keep_threshold)
        super().__init__(net, transform, name, *thresholds, batch_size, weights=weights, **common)

    def _decode(self, frames: Frames) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        height, width = frames[0].shape[:2]
        inputs = self.transform(frames, self.mean_bgr, self.device, self.dtype)
        loc, logits, landmark_offsets = (t.float() for t in self.inference_net(inputs.images))
        grid_hw = tuple(inputs.images.shape[-2:])
        norm_hw = (int(height * inputs.factor), int(width * inputs.factor))
        priors = self.cached_priors((*grid_hw, *norm_hw), lambda: retinaface_priors(grid_hw, norm_hw))
        in_h, in_w = inputs.size
        scale = torch.tensor([in_w, in_h], device=self.device, dtype=torch.float32)
        boxes = decode_boxes(loc, priors, VARIANCES) * scale.repeat(2) / inputs.factor
        points = decode_landmarks(landmark_offsets, priors, VARIANCES[0]) * scale / inputs.factor
        return boxes, logits.softmax(dim=-1)[..., 1], points
