"""The frame is the face: one box over the whole frame, score 1, for videos that are already face crops (dataset
crops, uploads where the face fills the picture). ``faces=whole_frame`` in ``python -m src.score``, or
``detector=whole_frame`` anywhere a detector is chosen."""

from __future__ import annotations

from typing import Any

from src.faces.detectors.base import FaceDetector, FrameDetections, Frames


class WholeFrameDetector(FaceDetector):
    name = "whole_frame"
    takes_frame_lists = True

    def detect(self, frames: Frames) -> list[FrameDetections]:
        height, width = frames[0].shape[:2]
        return [FrameDetections([[0, 0, width, height]], [1.0]) for _ in frames]

    @property
    def config(self) -> dict[str, Any]:
        return {"name": self.name}
