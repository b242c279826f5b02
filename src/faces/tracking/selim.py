"""Selim Seferbekov's faces (spec selim.md, steps 2-3): no tracking, every detected face of every sampled frame is
scored, cut with ``w // 3`` added left and right and ``h // 3`` above and below (integer box, clipped at the frame).

To report scores per face, the detections are still linked into tracks (IoU, no score or length threshold, so every
detection lands in exactly one track); the scores and the video score do not depend on that grouping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from src.faces.clips import ClipPlan, whole_video_clip
from src.faces.detectors.base import VideoDetections
from src.faces.pairs import Pairing
from src.faces.tracking import Track, iou_tracks
from src.faces.tracking.trackers import FaceTracker
from src.video.io import VideoInfo


def third_margin_boxes(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Integer crops: the box truncated to int, widened by a third of its width and height on each side."""
    x1, y1, x2, y2 = np.trunc(np.asarray(boxes, np.float64)).astype(np.int64).T
    pad_w, pad_h = (x2 - x1) // 3, (y2 - y1) // 3
    crops = np.stack([x1 - pad_w, y1 - pad_h, x2 + pad_w, y2 + pad_h], axis=1)
    return np.clip(crops, 0, [width, height, width, height])


@dataclass
class FrameFaces(FaceTracker):
    sigma_iou: float = 0.3  # grouping for the report only
    pairing: Pairing = field(default_factory=lambda: Pairing(geometry="own"))
    name: str = "frame_faces"

    def tracks(self, detections: VideoDetections, info: VideoInfo) -> list[Track]:
        return iou_tracks(detections, sigma_l=0.0, sigma_h=0.0, sigma_iou=self.sigma_iou, t_min=1)

    def crop_boxes(self, track: Track, info: VideoInfo) -> np.ndarray:
        return third_margin_boxes(track.boxes, info.width, info.height)

    def clips(
        self, tracks: list[Track], crops: list[np.ndarray], info: VideoInfo, video_id: str, step: int
    ) -> list[ClipPlan]:
        return [whole_video_clip(t, boxes, info.num_frames) for t, boxes in zip(tracks, crops, strict=True)]

    @property
    def config(self) -> dict[str, Any]:
        return {"name": self.name, "sigma_iou": self.sigma_iou, "pairing": self.pairing.config}
