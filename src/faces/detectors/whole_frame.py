"""The frame is the face: one box over the whole frame, score 1, for videos that are already face crops (dataset
crops, uploads where the face fills the picture). ``faces=whole_frame`` in ``python -m src.score``, or
``detector=whole_frame`` anywhere a detector is chosen."""

from __future__ import annotations

from typing import Any

import numpy as np

from src.faces.detectors.base import FaceDetector, FrameDetections


class WholeFrameDetector(FaceDetector):
    name = "whole_frame"

    def detect(self, frames: np.ndarray) -> list[FrameDetections]:
        height, width = frames.shape[1:3]
        return [FrameDetections([[0, 0, width, height]], [1.0]) for _ in frames]

    @property
    def config(self) -> dict[str, Any]:
        return {"name": self.name}
