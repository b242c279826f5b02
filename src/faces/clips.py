"""Clip plans: which source frames of a video one face clip holds and the crop box of each (the extract stage's input).

A clip keeps the source frame rate and every frame in its range, so training can pick any frames inside it (NTech's
7 frames at step 2, RobustForensics' frames 0, 30, ..., 270 or 32 contiguous frames for SlowFast). All crop boxes of
one clip have the same size.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from src.faces.tracking import Track, nearest_detected, nearest_in_time

Windows = Literal["random", "all"]


@dataclass
class ClipPlan:
    """One clip: ``name`` is ``<track_id>_<start_frame>``, unique within a video.

    Clip frame ``i`` stands for source frame ``source_frames[i]`` and shows the image of source frame
    ``image_frames[i]`` (the same frame unless a tube fills a frame without detection with its nearest detected
    frame, as RobustForensics did), cut with ``crop_boxes[i]``. ``frame_size`` (width, height) resizes the source
    frames before cutting: a fake stored at another size than its original is cut in the original's coordinates.
    ``tag`` extends the name where one track has several clips at one start (NTech's per-pair boxes).
    """

    track_id: int
    source_frames: np.ndarray  # int64 (N,), increasing
    crop_boxes: np.ndarray  # int64 (N, 4), xyxy, right/bottom exclusive, one size for the clip
    image_frames: np.ndarray | None = None  # int64 (N,), non-decreasing; None: source_frames
    frame_size: tuple[int, int] | None = None
    tag: str = ""

    def __post_init__(self) -> None:
        self.source_frames = np.asarray(self.source_frames, np.int64).reshape(-1)
        self.crop_boxes = np.asarray(self.crop_boxes, np.int64).reshape(-1, 4)
        images = self.source_frames if self.image_frames is None else self.image_frames
        self.image_frames = np.asarray(images, np.int64).reshape(-1)
        if len(self.source_frames) == 0 or not len(self.source_frames) == len(self.crop_boxes) == len(images):
            raise ValueError(f"clip of track {self.track_id}: needs one crop box per frame and at least one frame")
        if np.any(np.diff(self.image_frames) < 0):
            raise ValueError(f"clip of track {self.track_id}: image frames must not decrease")
        sizes = self.crop_boxes[:, 2:] - self.crop_boxes[:, :2]
        if np.any(sizes != sizes[0]) or np.any(sizes[0] <= 0):
            raise ValueError(f"clip of track {self.track_id}: crop boxes must share one positive size")

    @property
    def name(self) -> str:
        return f"{self.track_id}_{int(self.source_frames[0])}" + (f"_{self.tag}" if self.tag else "")

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the clip's frames."""
        width, height = (self.crop_boxes[0, 2:] - self.crop_boxes[0, :2]).tolist()
        return height, width

    @property
    def reuses_images(self) -> bool:
        return not np.array_equal(self.image_frames, self.source_frames)

    def to_dict(self) -> dict[str, Any]:
        optional = {"image_frames": self.image_frames.tolist()} if self.reuses_images else {}
        optional |= {"frame_size": list(self.frame_size)} if self.frame_size else {}
        return (
            {
                "name": self.name,
                "track_id": self.track_id,
                "source_frames": self.source_frames.tolist(),
                "crop_boxes": self.crop_boxes.tolist(),
            }
            | optional
            | ({"tag": self.tag} if self.tag else {})
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClipPlan:
        size = data.get("frame_size")
        return cls(
            int(data["track_id"]),
            data["source_frames"],
            data["crop_boxes"],
            data.get("image_frames"),
            tuple(size) if size else None,
            data.get("tag", ""),
        )

    def subset(self, keep: np.ndarray) -> ClipPlan:
        """The clip restricted to the frames where ``keep`` is true."""
        return replace(
            self,
            source_frames=self.source_frames[keep],
            crop_boxes=self.crop_boxes[keep],
            image_frames=self.image_frames[keep],
        )


def ntech_windows(
    track: Track,
    crop_boxes: np.ndarray,
    num_frames: int,
    detection_step: int,
    clip_length: int = 50,
    windows: Windows = "random",
    rng: np.random.Generator | None = None,
) -> list[ClipPlan]:
    """NTech's clips of one training track: ``clip_length`` consecutive source frames with one fixed crop box.

    A track needs ``clip_length // detection_step`` detections (8 for 50 frames at step 6), else it gets no clip.
    ``random`` (faithful): one window starting at a random detection ``s`` (uniform over those leaving room for
    the 8), cut with the crop box of detection ``s + 4``. ``all``: consecutive non-overlapping windows from the first
    detection while a full window of detections fits, each cut with the box of the detection nearest its middle.
    Windows are cut short at the end of the video, like NTech's.
    """
    span = max(1, clip_length // detection_step)
    if len(track) < span:
        return []
    if windows == "random":
        rng = rng if rng is not None else np.random.default_rng()
        start = int(rng.integers(0, len(track) - span + 1))
        starts, middles = [int(track.frames[start])], [start + span // 2]
    elif windows == "all":
        count = (int(track.frames[-1]) - int(track.frames[0]) + detection_step) // clip_length
        starts = [int(track.frames[0]) + k * clip_length for k in range(max(count, 1))]
        middle_frames = np.array(starts) + (span // 2) * detection_step
        middles = nearest_in_time(track.frames, middle_frames).tolist()
    else:
        raise ValueError(f"windows must be 'random' or 'all', got {windows!r}")
    plans = []
    for first, middle in zip(starts, middles, strict=True):
        frames = np.arange(first, min(first + clip_length, num_frames))
        plans.append(ClipPlan(track.track_id, frames, np.repeat(crop_boxes[middle][None], len(frames), axis=0)))
    return plans


def whole_video_clip(track: Track, crop_boxes: np.ndarray, num_frames: int, max_frames: int | None = None) -> ClipPlan:
    """RobustForensics' clip of a tube: every source frame shows the image and crop box of the tube's detected frame
    nearest in time (ties to the earlier), so a frame where the face was not found repeats a neighbour's face
    (``save_aligned_faces.py`` saved that frame's image as ``source``).

    ``max_frames`` keeps only the first frames (tests, quick runs); ``None`` keeps the whole video.
    """
    frames = np.arange(num_frames if max_frames is None else min(num_frames, max_frames))
    nearest = nearest_detected(track, frames)
    return ClipPlan(track.track_id, frames, crop_boxes[nearest], track.frames[nearest])


def clip_rng(seed: int, video_id: str, track_id: int) -> np.random.Generator:
    """A generator per (video, track): the same windows whatever the shard or the order videos are processed in."""
    return np.random.default_rng([seed, zlib.crc32(video_id.encode()), track_id])


def pair_rng(seed: int, original_id: str, fake_id: str, real_track: int, fake_track: int) -> np.random.Generator:
    """A generator per real/fake track pair: the original's and the fake's extraction draw the same window."""
    return np.random.default_rng([seed, zlib.crc32(f"{original_id}|{fake_id}".encode()), real_track, fake_track])
