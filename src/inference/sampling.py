"""Which source frames prediction decodes (the face detector then sees every ``detect_every``-th of them).

* NTechLab (``ntechlab_detail.md`` §5): the 15 fps stream, every ``round(int(fps) / 15)``-th frame; detection on
  every 3rd of those. The seed scores a video whose step rounds to 0 (fps < 7.5) with 0.5; here it uses step 1.
* RobustForensics (``robustforensics.md`` §8.1): 160 frames at most, every ``ceil(N / 160)``-th; detection on all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from src.preprocess.video import VideoInfo


@dataclass(frozen=True)
class TargetFps:
    fps: float = 15.0

    def __call__(self, info: VideoInfo) -> np.ndarray:
        step = max(1, round(int(info.fps) / self.fps))
        return np.arange(0, info.num_frames, step, dtype=np.int64)


@dataclass(frozen=True)
class AtMost:
    count: int = 160

    def __call__(self, info: VideoInfo) -> np.ndarray:
        step = max(1, math.ceil(info.num_frames / self.count))
        return np.arange(0, info.num_frames, step, dtype=np.int64)
