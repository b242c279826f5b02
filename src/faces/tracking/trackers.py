"""The ``tracker=`` choices: detections of one video in, face tracks, per-frame crop boxes and clip plans out.

Preprocessing (``track`` stage) and prediction call the same objects in memory, so training and test crops come
from one code path. How fake clips pair with real ones is the extract stage's :class:`~src.faces.pairs.Pairing`.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any

import numpy as np

from src.faces.align import scaled_boxes, tube_square_boxes
from src.faces.clips import ClipPlan, Windows, clip_rng, ntech_windows, whole_video_clip
from src.faces.detectors.base import VideoDetections
from src.faces.tracking import Track, face_tubes, interpolate_track, iou_tracks, nearest_detected
from src.video.io import VideoInfo


@dataclass
class TrackingResult:
    tracks: list[Track]
    crop_boxes: list[np.ndarray]  # per track: int64 (len(track), 4), the crop of each track frame
    clips: list[ClipPlan]


class FaceTracker(abc.ABC):
    name: str = "tracker"

    def __call__(self, detections: VideoDetections, info: VideoInfo, video_id: str = "") -> TrackingResult:
        """Tracks, crop boxes and clip plans of one video; ``video_id`` seeds NTech's random clip windows."""
        tracks = self.tracks(detections, info)
        crops = [self.crop_boxes(track, info) for track in tracks]
        return TrackingResult(tracks, crops, self.clips(tracks, crops, info, video_id, detection_step(detections)))

    @abc.abstractmethod
    def tracks(self, detections: VideoDetections, info: VideoInfo) -> list[Track]:
        """The face tracks of one video."""

    @abc.abstractmethod
    def crop_boxes(self, track: Track, info: VideoInfo) -> np.ndarray:
        """Integer crop box (x1, y1, x2, y2) of every frame of ``track``."""

    def image_frames(self, track: Track) -> np.ndarray:
        """The source frame whose image each frame of ``track`` shows: its own (NTech cut interpolated frames too)."""
        return track.frames

    @abc.abstractmethod
    def clips(
        self, tracks: list[Track], crops: list[np.ndarray], info: VideoInfo, video_id: str, step: int
    ) -> list[ClipPlan]:
        """The clips to extract for training."""

    @property
    @abc.abstractmethod
    def config(self) -> dict[str, Any]:
        """Name and every setting, recorded in each artifact."""


@dataclass
class NtechTracker(FaceTracker):
    """NTechLab: IoU tracker 0.3/0.9/0.3, crops 1.5x about the centre, 50-frame clips (``ntechlab_detail.md`` §1.3-1.5).

    Training: ``t_min=1``, no interpolation. Test time (``predict.py``): ``t_min=7`` and ``interpolate_fps=15``, which
    interpolates every track to the frames of the 15 fps stream (step ``round(int(fps) / 15)`` source frames).
    """

    sigma_l: float = 0.3
    sigma_h: float = 0.9
    sigma_iou: float = 0.3
    t_min: int = 1
    interpolate_fps: float | None = None
    box_mult: float = 1.5
    clip_length: int = 50
    windows: Windows = "random"
    seed: int = 0xDEADFACE
    name: str = "ntech"

    def tracks(self, detections: VideoDetections, info: VideoInfo) -> list[Track]:
        tracks = iou_tracks(detections, self.sigma_l, self.sigma_h, self.sigma_iou, self.t_min)
        if self.interpolate_fps:
            step = max(1, round(int(info.fps) / self.interpolate_fps))
            tracks = [interpolate_track(t, np.arange(0, info.num_frames, step)) for t in tracks]
        return tracks

    def crop_boxes(self, track: Track, info: VideoInfo) -> np.ndarray:
        return scaled_boxes(track.boxes, self.box_mult, info.width, info.height)

    def clips(
        self, tracks: list[Track], crops: list[np.ndarray], info: VideoInfo, video_id: str, step: int
    ) -> list[ClipPlan]:
        plans = []
        for track, boxes in zip(tracks, crops, strict=True):
            rng = clip_rng(self.seed, video_id, track.track_id)
            plans += ntech_windows(track, boxes, info.num_frames, step, self.clip_length, self.windows, rng)
        return plans

    @property
    def config(self) -> dict[str, Any]:
        keys = ("sigma_l", "sigma_h", "sigma_iou", "t_min", "interpolate_fps", "box_mult", "clip_length", "windows")
        return {"name": self.name, **{k: getattr(self, k) for k in keys}, "seed": self.seed}


@dataclass
class TubeTracker(FaceTracker):
    """RobustForensics: face tubes with a constant even square crop per tube (``robustforensics.md`` §3, §8.3).

    Training keeps every voted face (``max_faces=None``); inference caps at 2. A clip holds the whole video
    (``max_frames`` shortens it for quick runs).
    """

    score_threshold: float = 0.8
    iou_threshold: float = 0.5
    max_faces: int | None = None
    scale: float = 1.3
    max_frames: int | None = None
    name: str = "tubes"

    def tracks(self, detections: VideoDetections, info: VideoInfo) -> list[Track]:
        return face_tubes(detections, self.score_threshold, self.iou_threshold, self.max_faces)

    def crop_boxes(self, track: Track, info: VideoInfo) -> np.ndarray:
        return tube_square_boxes(track.boxes, info.width, info.height, self.scale)

    def image_frames(self, track: Track) -> np.ndarray:
        """A filled frame shows the image of the tube's nearest detected frame, as in training clips."""
        return track.frames[nearest_detected(track, track.frames)]

    def clips(
        self, tracks: list[Track], crops: list[np.ndarray], info: VideoInfo, video_id: str, step: int
    ) -> list[ClipPlan]:
        return [
            whole_video_clip(track, boxes, info.num_frames, self.max_frames)
            for track, boxes in zip(tracks, crops, strict=True)
        ]

    @property
    def config(self) -> dict[str, Any]:
        keys = ("score_threshold", "iou_threshold", "max_faces", "scale", "max_frames")
        return {"name": self.name, **{k: getattr(self, k) for k in keys}}


def detection_step(detections: VideoDetections) -> int:
    """Source frames between consecutive sampled frames (the median, so a short last step does not count)."""
    if len(detections.frame_indices) < 2:
        return 1
    return max(1, int(np.median(np.diff(detections.frame_indices))))
