"""The detector interface and the per-video detection artifact shared by preprocessing and prediction."""

from __future__ import annotations

import abc
import itertools
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from src.utils.io import json_default, write_npz

DETECTIONS_SCHEMA_VERSION = 1

Frames = np.ndarray | Sequence[np.ndarray]  # a batch: an (N, H, W, 3) array, or N (H, W, 3) arrays of one size


@dataclass
class FrameDetections:
    """Faces found in one frame: boxes (K, 4) x1, y1, x2, y2 in source pixels; scores (K,); landmarks (K, 5, 2)."""

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        self.scores = np.asarray(self.scores, np.float32).reshape(-1)
        if self.landmarks is not None:
            self.landmarks = np.asarray(self.landmarks, np.float32).reshape(-1, 5, 2)
        if len(self.boxes) != len(self.scores):
            raise ValueError(f"{len(self.boxes)} boxes but {len(self.scores)} scores")

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def empty(cls, with_landmarks: bool = False) -> FrameDetections:
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2)) if with_landmarks else None)

    def filter(self, keep: np.ndarray) -> FrameDetections:
        landmarks = None if self.landmarks is None else self.landmarks[keep]
        return FrameDetections(self.boxes[keep], self.scores[keep], landmarks)


class FaceDetector(abc.ABC):
    """Batch of RGB uint8 frames in, one :class:`FrameDetections` per frame out.

    A batch is an (N, H, W, 3) array or a list of N (H, W, 3) arrays of one size. ``detect`` gets a list as it is
    when the class sets ``takes_frame_lists`` (the built-in detectors: decoded frames then reach them without being
    stacked into one array, a copy that cost a quarter of decoding's time), else stacked into an array.

    Implementations run in inference mode on ``device`` and report their settings in ``config`` so that every
    artifact records exactly how its boxes were made.
    """

    name: str = "detector"
    takes_frame_lists: bool = False  # detect() accepts a list of same-size frames, not only an (N, H, W, 3) array

    @abc.abstractmethod
    def detect(self, frames: Frames) -> list[FrameDetections]:
        """Detect faces in each frame (a checked, non-empty batch); coordinates are in the pixels of the frames."""

    @property
    def config(self) -> dict[str, Any]:
        return {"name": self.name}

    def __call__(self, frames: Frames) -> list[FrameDetections]:
        if isinstance(frames, np.ndarray):
            if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
                raise ValueError(f"expected uint8 frames (N, H, W, 3), got {frames.dtype} {frames.shape}")
        else:
            frames = list(frames)
            kinds = {(np.asarray(f).dtype, np.shape(f)) for f in frames}
            if len(kinds) > 1 or any(dtype != np.uint8 or len(shape) != 3 or shape[-1] != 3 for dtype, shape in kinds):
                got = ", ".join(sorted(f"{dtype} {shape}" for dtype, shape in kinds))
                raise ValueError(f"expected uint8 frames (H, W, 3) of one size, got {got}")
            if frames and not self.takes_frame_lists:
                frames = np.stack(frames)
        return self.detect(frames) if len(frames) else []


@dataclass
class VideoDetections:
    """All detections of one video: the sampled frame indices and one :class:`FrameDetections` each.

    Stored as ``.npz`` with flat arrays plus per-frame counts (see ``docs/artifacts.md``); ``meta`` carries the
    video properties, the detector name and settings, and the sampling recipe.
    """

    frame_indices: np.ndarray
    frames: list[FrameDetections]
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.frame_indices = np.asarray(self.frame_indices, np.int64).reshape(-1)
        if len(self.frame_indices) != len(self.frames):
            raise ValueError(f"{len(self.frame_indices)} frame indices but {len(self.frames)} detection lists")

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def counts(self) -> np.ndarray:
        return np.array([len(f) for f in self.frames], np.int64)

    @property
    def has_landmarks(self) -> bool:
        return any(f.landmarks is not None for f in self.frames)

    def save(self, path: str | os.PathLike) -> None:
        counts = self.counts
        boxes = np.concatenate([f.boxes for f in self.frames]) if self.frames else np.zeros((0, 4), np.float32)
        scores = np.concatenate([f.scores for f in self.frames]) if self.frames else np.zeros(0, np.float32)
        arrays = {
            "schema_version": np.array(DETECTIONS_SCHEMA_VERSION),
            "frame_indices": self.frame_indices,
            "counts": counts,
            "boxes": boxes.astype(np.float32),
            "scores": scores.astype(np.float32),
            "meta_json": np.array(_dumps(self.meta)),
        }
        if self.has_landmarks:
            arrays["landmarks"] = np.concatenate(
                [
                    np.full((len(f), 5, 2), np.nan, np.float32) if f.landmarks is None else f.landmarks
                    for f in self.frames
                ]
            ).astype(np.float32)
        write_npz(path, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> VideoDetections:
        with np.load(path, allow_pickle=False) as data:
            version = int(data["schema_version"])
            if version != DETECTIONS_SCHEMA_VERSION:
                raise ValueError(f"{path}: detections schema {version}, this code reads {DETECTIONS_SCHEMA_VERSION}")
            counts = data["counts"]
            offsets = np.concatenate([[0], np.cumsum(counts)])
            landmarks = data.get("landmarks", None)
            frames = [
                FrameDetections(
                    data["boxes"][a:b],
                    data["scores"][a:b],
                    None if landmarks is None else landmarks[a:b],
                )
                for a, b in itertools.pairwise(offsets)
            ]
            return cls(data["frame_indices"], frames, json.loads(str(data["meta_json"])))

    @classmethod
    def from_frames(
        cls, frame_indices: Sequence[int], frames: Sequence[FrameDetections], **meta: Any
    ) -> VideoDetections:
        return cls(np.asarray(frame_indices), list(frames), dict(meta))


def _dumps(meta: dict[str, Any]) -> str:
    return json.dumps(meta, default=json_default, sort_keys=True)
