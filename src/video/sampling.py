"""Which frames of a video the detector sees: the two seeds' recipes and a generic one, chosen with ``sampling=``.

Each sampler maps a video's :class:`VideoInfo` to sorted, unique source frame indices and describes itself in
``config`` (stored in every detections artifact).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from src.video.io import VideoInfo


class FrameSampler(abc.ABC):
    @abc.abstractmethod
    def indices(self, info: VideoInfo) -> np.ndarray:
        """Sorted unique source frame indices in ``[0, info.num_frames)``."""

    @property
    def config(self) -> dict[str, Any]:
        return {"name": type(self).__name__, **asdict(self)}  # type: ignore[call-overload]

    def __call__(self, info: VideoInfo) -> np.ndarray:
        return np.asarray(self.indices(info), np.int64)


@dataclass
class EveryNth(FrameSampler):
    """Every ``step``-th frame from ``start``: NTech's training-time detection uses step 6 (5 Hz at 30 fps);
    step 1 is every frame (RobustForensics' training-time detection ran on all frames)."""

    step: int = 6
    start: int = 0
    max_count: int | None = None  # keep only the first max_count sampled frames (quick looks, tests)

    def __post_init__(self) -> None:
        if self.step < 1 or self.start < 0:
            raise ValueError(f"EveryNth needs step >= 1 and start >= 0, got step={self.step} start={self.start}")

    def indices(self, info: VideoInfo) -> np.ndarray:
        return np.arange(self.start, info.num_frames, self.step)[: self.max_count]


@dataclass
class AtMostN(FrameSampler):
    """RobustForensics' inference sampling: ``interval = max(1, ceil(num_frames / max_frames))``, frames
    ``0, interval, 2*interval, ...`` (150 frames, every 2nd, for a 300-frame DFDC video)."""

    max_frames: int = 160

    def __post_init__(self) -> None:
        if self.max_frames < 1:
            raise ValueError(f"AtMostN needs max_frames >= 1, got {self.max_frames}")

    def indices(self, info: VideoInfo) -> np.ndarray:
        interval = max(1, math.ceil(info.num_frames / self.max_frames))
        return np.arange(0, info.num_frames, interval)


@dataclass
class FpsStride(FrameSampler):
    """NTech's prediction-time sampling: resample to ``target_fps`` by a stride of ``round(int(fps) / target_fps)``
    source frames, then keep every ``detector_step``-th of those (every 6th frame at 30 fps, every 3rd at 15 fps).

    NTech gives up on a video whose stride rounds to 0 (under 7.5 fps); here the stride is at least 1.
    """

    target_fps: float = 15.0
    detector_step: int = 3

    def indices(self, info: VideoInfo) -> np.ndarray:
        stride = max(1, round(int(info.fps) / self.target_fps))
        return np.arange(0, info.num_frames, stride)[:: self.detector_step]


@dataclass
class EvenlySpaced(FrameSampler):
    """``num_frames`` frames spread evenly from the first to the last (all frames of a shorter video).

    ``truncate`` casts the spaced positions to int instead of rounding them (Selim's ``linspace(...).astype(int)``).
    """

    num_frames: int = 32
    truncate: bool = False

    def __post_init__(self) -> None:
        if self.num_frames < 1:
            raise ValueError(f"EvenlySpaced needs num_frames >= 1, got {self.num_frames}")

    def indices(self, info: VideoInfo) -> np.ndarray:
        positions = np.linspace(0, info.num_frames - 1, self.num_frames)
        return np.unique((positions if self.truncate else positions.round()).astype(np.int64))


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
