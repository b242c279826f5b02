"""Which face crops each ensemble member sees: a recipe turns a video's tracks into model input units.

A unit is one model input: a single face image, NTech's 7-frame sequence, or RobustForensics' whole-tube clip. Each
unit lists its source frames and the crop box of each, whether it is mirrored, and which track it belongs to. The
recipes reproduce the seeds' test-time sampling:

* :class:`NtechSequences` — windows of 7 consecutive 15 fps track frames starting every 14, all cut with the box of
  the middle frame, mirrored when the window number is even (``ntechlab_detail.md`` §5, "Sequence model").
* :class:`NtechFrames` — every 2nd track frame, mirrored when its number is even, split between the two frame models
  by ``number % 4`` (large_crop takes 0 and 1, re takes 2 and 3).
* :class:`TubeFrames` — RobustForensics' image models: every ``ceil(F / 35)``-th tube frame, cut to a multiple of 5
  (the 5-frame logit groups), optional flip TTA (``robustforensics.md`` §8.4).
* :class:`TubeClip` — RobustForensics' SlowFast: the whole tube as one clip (§8.5).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Layout = Literal["images", "sequence", "clip"]


@dataclass(frozen=True)
class Unit:
    """One model input: ``frames`` (source indices) cut with ``boxes`` (int xyxy, one per frame) of track ``track``."""

    track: int
    frames: np.ndarray
    boxes: np.ndarray
    flip: bool = False


@dataclass(frozen=True)
class TrackCrops:
    """A tracker's output for one video as the recipes read it: per track, its source frames and crop boxes."""

    frames: Sequence[np.ndarray]
    boxes: Sequence[np.ndarray]

    def __len__(self) -> int:
        return len(self.frames)


class CropRecipe:
    """``units(tracks)`` lists a member's inputs; ``layout`` says how a batch of them is shaped for the model.

    ``images``: (N, C, H, W), one output per unit. ``sequence``: (N, T, C, H, W), one output per frame.
    ``clip``: (N, C, T, H, W), one output per unit. ``tta_flip`` also runs the mirrored batch and averages logits.
    """

    layout: Layout = "images"
    tta_flip: bool = False

    def units(self, tracks: TrackCrops) -> list[Unit]:
        raise NotImplementedError


@dataclass(frozen=True)
class NtechSequences(CropRecipe):
    length: int | None = None  # frames per window; None: the model's (its exported spec's net.seq_length)
    every: int = 14
    flip_even: bool = True
    layout: Layout = "sequence"

    def units(self, tracks: TrackCrops) -> list[Unit]:
        out = []
        for t, (frames, boxes) in enumerate(zip(tracks.frames, tracks.boxes, strict=True)):
            # track[:-(length - 1):every]: every start that leaves a full window
            for i, start in enumerate(range(0, len(frames) - self.length + 1, self.every)):
                middle = boxes[start + self.length // 2]
                window = frames[start : start + self.length]
                out.append(Unit(t, window, np.repeat(middle[None], self.length, 0), self.flip_even and i % 2 == 0))
        return out


@dataclass(frozen=True)
class NtechFrames(CropRecipe):
    every: int = 2
    period: int = 4
    phases: tuple[int, ...] = (0, 1)
    flip_even: bool = True

    def units(self, tracks: TrackCrops) -> list[Unit]:
        out = []
        for t, (frames, boxes) in enumerate(zip(tracks.frames, tracks.boxes, strict=True)):
            for i, pos in enumerate(range(0, len(frames), self.every)):
                if i % self.period in self.phases:
                    out.append(Unit(t, frames[pos : pos + 1], boxes[pos : pos + 1], self.flip_even and i % 2 == 0))
        return out


@dataclass(frozen=True)
class TubeFrames(CropRecipe):
    count: int = 35
    group: int = 5
    tta_flip: bool = False

    def units(self, tracks: TrackCrops) -> list[Unit]:
        out = []
        for t, (frames, boxes) in enumerate(zip(tracks.frames, tracks.boxes, strict=True)):
            step = max(1, math.ceil(len(frames) / self.count))
            picked = np.arange(0, len(frames), step)
            usable = len(picked) // self.group * self.group
            # fewer frames than one group: keep them all (the aggregation makes them one group)
            for pos in picked[:usable] if usable else picked:
                out.append(Unit(t, frames[pos : pos + 1], boxes[pos : pos + 1]))
        return out


@dataclass(frozen=True)
class TubeClip(CropRecipe):
    max_frames: int | None = None
    layout: Layout = "clip"

    def units(self, tracks: TrackCrops) -> list[Unit]:
        return [
            Unit(t, frames[: self.max_frames], boxes[: self.max_frames])
            for t, (frames, boxes) in enumerate(zip(tracks.frames, tracks.boxes, strict=True))
            if len(frames)
        ]
