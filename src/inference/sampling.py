"""Which source frames prediction decodes (the face detector then sees every ``detect_every``-th of them).

* NTechLab (``ntechlab_detail.md`` §5): the 15 fps stream, every ``round(int(fps) / 15)``-th frame; detection on
  every 3rd of those. The seed scores a video whose step rounds to 0 (fps < 7.5) with 0.5; here it uses step 1.
* RobustForensics (``robustforensics.md`` §8.1): 160 frames at most, every ``ceil(N / 160)``-th; detection on all.

``max_frames`` looks only at the start of each video (quick runs, tests); ``None`` uses the whole video.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from src.preprocess.video import VideoInfo


@dataclass(frozen=True)
class TargetFps:
    fps: float = 15.0
    max_frames: int | None = None

    def __call__(self, info: VideoInfo) -> np.ndarray:
        step = max(1, round(int(info.fps) / self.fps))
        return np.arange(0, _length(info, self.max_frames), step, dtype=np.int64)


@dataclass(frozen=True)
class AtMost:
    count: int = 160
    max_frames: int | None = None

    def __call__(self, info: VideoInfo) -> np.ndarray:
        length = _length(info, self.max_frames)
        return np.arange(0, length, max(1, math.ceil(length / self.count)), dtype=np.int64)


def _length(info: VideoInfo, max_frames: int | None) -> int:
    return info.num_frames if max_frames is None else min(info.num_frames, max_frames)
