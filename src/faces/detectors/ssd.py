"""What the SSD-style detectors (DSFD, RetinaFace) share: a network giving per-anchor box offsets and class logits,
anchors cached per input geometry, and the seeds' selection: score threshold, NMS, keep threshold."""

from __future__ import annotations

import abc
from collections.abc import Callable, Hashable
from typing import Any

import torch
import torchvision
from torch import nn

from src.faces.detectors.base import FrameDetections, Frames
from src.faces.detectors.torch_detector import BatchedDetector, fuse_batchnorm, load_network
from src.faces.detectors.transforms import InputTransform
from src.faces.detectors.weights import WeightsFile


class SSDDetector(BatchedDetector):
    """Subclasses decode a batch (:meth:`_decode`) into source-pixel boxes, face scores and optional landmarks.

    ``top_k`` (DSFD) keeps only the best-scoring candidates before NMS; ``keep_inclusive`` says whether a score equal
    to ``keep_threshold`` survives (RetinaFace's ``>=``) or not (DSFD's ``>``), as each seed wrote it.
    """

    keep_inclusive: bool = False
    fold_batchnorm: bool = False  # run a BatchNorm-folded copy of the net (small nets: DSFD's 120M weights stay single)

    def __init__(
        self,
        net: nn.Module,
        transform: InputTransform,
        name: str,
        confidence_threshold: float,
        nms_threshold: float,
        keep_threshold: float,
        batch_size: int,
        top_k: int | None = None,
        weights: WeightsFile | dict | None = None,
        mean_bgr: tuple[float, float, float] = (104.0, 117.0, 123.0),  # both seeds' Caffe-style BGR means
        device: str = "auto",
        fp16: bool = False,
    ):
        super().__init__(name, device, fp16, batch_size)
        self.weights = None if weights is None else WeightsFile.of(weights, name)
        self.net = load_network(net, self.weights).to(self.device, self.dtype)
        self.inference_net = fuse_batchnorm(self.net) if self.fold_batchnorm else self.net  # what _decode runs
        self.transform = transform
        self.confidence_threshold = confidence_threshold
        self.top_k = top_k
        self.nms_threshold = nms_threshold
        self.keep_threshold = keep_threshold
        self.mean_bgr = tuple(mean_bgr)
        self._priors: dict[Hashable, torch.Tensor] = {}

    @property
    def config(self) -> dict[str, Any]:
        top_k = {} if self.top_k is None else {"top_k": self.top_k}
        return super().config | {
            "weights": None if self.weights is None else self.weights.to_dict(),
            "transform": self.transform.config,
            "confidence_threshold": self.confidence_threshold,
            **top_k,
            "nms_threshold": self.nms_threshold,
            "keep_threshold": self.keep_threshold,
            "mean_bgr": list(self.mean_bgr),
        }

    def cached_priors(self, key: Hashable, make: Callable[[], torch.Tensor]) -> torch.Tensor:
        """The anchors of one input geometry, computed once on this detector's device."""
        if key not in self._priors:
            self._priors[key] = make().to(self.device)
        return self._priors[key]

    @abc.abstractmethod
    def _decode(self, frames: Frames) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(boxes (B, P, 4) in source pixels, face scores (B, P), landmarks (B, P, 5, 2) or None)``."""

    def _detect_batch(self, frames: Frames) -> list[FrameDetections]:
        boxes, scores, points = self._decode(frames)
        return [self._select(boxes[i], scores[i], None if points is None else points[i]) for i in range(len(frames))]

    def _select(self, boxes: torch.Tensor, scores: torch.Tensor, points: torch.Tensor | None) -> FrameDetections:
        candidates = torch.nonzero(scores > self.confidence_threshold).squeeze(1)
        if self.top_k is not None:
            candidates = candidates[scores[candidates].argsort(descending=True)[: self.top_k]]
        boxes, scores = boxes[candidates], scores[candidates]
        keep = torchvision.ops.nms(boxes, scores, self.nms_threshold)  # sorted by decreasing score
        keep = keep[scores[keep] >= self.keep_threshold if self.keep_inclusive else scores[keep] > self.keep_threshold]
        landmarks = None if points is None else points[candidates][keep].cpu().numpy()
        return FrameDetections(boxes[keep].cpu().numpy(), scores[keep].cpu().numpy(), landmarks)
