"""A face track: one face followed over the sampled frames of a video, plus the IoU both seeds link boxes with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torchvision.ops import box_iou as _torch_box_iou


@dataclass
class Track:
    """Boxes of one face at increasing source frame indices.

    ``detected`` is False where a tracker filled the box in (RobustForensics' nearest-in-time filling, NTech's test-time
    interpolation); ``scores`` is 0 there.
    """

    track_id: int
    frames: np.ndarray  # int64 (T,), source frame indices, increasing
    boxes: np.ndarray  # float32 (T, 4), x1, y1, x2, y2 in upright source pixels
    scores: np.ndarray  # float32 (T,)
    detected: np.ndarray  # bool (T,)

    def __post_init__(self) -> None:
        self.frames = np.asarray(self.frames, np.int64).reshape(-1)
        self.boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        self.scores = np.asarray(self.scores, np.float32).reshape(-1)
        self.detected = np.asarray(self.detected, bool).reshape(-1)
        if not len(self.frames) == len(self.boxes) == len(self.scores) == len(self.detected):
            raise ValueError(f"track {self.track_id}: frames, boxes, scores and detected differ in length")
        if len(self.frames) > 1 and np.any(np.diff(self.frames) <= 0):
            raise ValueError(f"track {self.track_id}: frame indices must increase")

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def num_detections(self) -> int:
        return int(self.detected.sum())

    def to_dict(self) -> dict[str, Any]:
        return {
            "track_id": self.track_id,
            "frames": self.frames.tolist(),
            "boxes": np.round(self.boxes.astype(np.float64), 2).tolist(),
            "scores": np.round(self.scores.astype(np.float64), 4).tolist(),
            "detected": self.detected.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Track:
        frames = data["frames"]
        return cls(
            track_id=int(data["track_id"]),
            frames=frames,
            boxes=np.asarray(data["boxes"], np.float32).reshape(-1, 4),
            scores=data["scores"],
            detected=data.get("detected", [True] * len(frames)),
        )


def box_iou(a: np.ndarray, b: np.ndarray, pixel_inclusive: bool = False) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of xyxy boxes, by ``torchvision.ops.box_iou``; degenerate pairs give 0.

    ``pixel_inclusive=True`` is RobustForensics' convention: a box covers pixels x1..x2 inclusive, so widths and
    heights get +1, done here by adding 1 to x2 and y2. Its ``clamp(union, min=1)`` then never binds (every valid box
    covers at least one pixel), so plain ``box_iou`` on the shifted boxes gives the same numbers.
    """
    a = torch.as_tensor(np.asarray(a, np.float64).reshape(-1, 4))
    b = torch.as_tensor(np.asarray(b, np.float64).reshape(-1, 4))
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    if pixel_inclusive:
        one = torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=torch.float64)
        a, b = a + one, b + one
    return torch.nan_to_num(_torch_box_iou(a, b), nan=0.0).numpy()
