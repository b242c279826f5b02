"""Which source frames prediction decodes: a preprocessing frame sampler (``src.preprocess.sampling``), optionally
cut to the start of the video; the face detector then sees every ``detect_every``-th decoded frame.

* NTechLab (``ntechlab_detail.md`` §5): ``FpsStride(target_fps=15, detector_step=1)`` decodes the 15 fps stream;
  ``detect_every: 3`` gives its detection cadence.
* RobustForensics (§8.1): ``AtMostN(max_frames=160)`` (every ``ceil(N / 160)``-th frame), detection on all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from src.preprocess.video import VideoInfo


@dataclass(frozen=True)
class FirstFrames:
    """The frames of ``sampler`` below source frame ``max_frames``: a quick look at long videos (and small tests).

    Face tracks then lie inside the decoded frames: NTech's interpolation only fills between detections.
    """

    sampler: Callable[[VideoInfo], np.ndarray]
    max_frames: int | None = None

    def __call__(self, info: VideoInfo) -> np.ndarray:
        frames = np.asarray(self.sampler(info), np.int64)
        return frames if self.max_frames is None else frames[frames < self.max_frames]
