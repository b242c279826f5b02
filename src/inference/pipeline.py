"""Score one raw video with an ensemble, in memory: probe → sampled decode (one PyAV pass) → detect → track and
crop boxes (the preprocessing tracker objects) → each member on its crops → aggregation rule → P(fake).

Each video is scored on its own (no state carries over between videos, batches never mix videos), so a video's
score does not depend on which other videos are in the run. A video without a usable face track gets the fallback;
a member that raises is left out of the rule and named in the report; errors that stop the video (unreadable file)
propagate as one-line exceptions for the runner to record.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from src.faces.detectors.base import FaceDetector, VideoDetections
from src.inference.aggregation import finalize
from src.inference.crops import TrackCrops
from src.inference.ensemble import Ensemble, MemberResult, SampledFrames
from src.inference.timing import StageTimer
from src.video.io import VideoInfo, VideoReadError, open_video, probe

log = logging.getLogger(__name__)
REPORT_SCHEMA_VERSION = 1


@dataclass
class VideoResult:
    """Everything known about one scored video; :meth:`to_report` is the per-video JSON of ``docs/artifacts.md``."""

    video_id: str
    score: float
    raw_score: float | None
    status: str  # ok | no_face | no_track | no_prediction | invalid_score (NaN or a value outside [0, 1])
    info: dict[str, Any] = field(default_factory=dict)
    decoded: list[int] = field(default_factory=list)
    detected: list[int] = field(default_factory=list)
    faces: list[int] = field(default_factory=list)
    tracks: list[dict[str, Any]] = field(default_factory=list)
    members: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def to_report(self) -> dict[str, Any]:
        return {
            "schema_version": REPORT_SCHEMA_VERSION,
            "video_id": self.video_id,
            "score": self.score,
            "raw_score": self.raw_score,
            "status": self.status,
            "info": self.info,
            "sampling": {"decoded": self.decoded, "detected": self.detected, "faces": self.faces},
            "tracks": self.tracks,
            "members": self.members,
            "timings": self.timings,
        }


@dataclass
class DecodedVideo:
    info: VideoInfo
    frames: SampledFrames
    seconds: float  # what decoding cost the main loop: all of it, or the wait for a prefetched video
    ahead_seconds: float = 0.0  # decoding done in the background while the previous video was scored


@dataclass
class Predictor:
    """``predictor(path, video_id) -> VideoResult`` with one ensemble and one face detector.

    ``decode`` and ``score`` are the two halves, so that the next video can be decoded while this one is scored.
    """

    ensemble: Ensemble
    detector: FaceDetector
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    fp16: bool = True
    detect_batch: int = 16

    def __post_init__(self) -> None:
        for member in self.ensemble.members:
            member.model.net.to(self.device).eval()

    def __call__(self, path: str, video_id: str) -> VideoResult:
        return self.score(self.decode(path), video_id)

    def decode(self, path: str) -> DecodedVideo:
        """Probe and decode the frames the ensemble samples (thread-safe: a prefetcher may call it ahead)."""
        timer = StageTimer()
        with timer("decode"):
            info = probe(path)
            indices = np.asarray(self.ensemble.sampling(info), np.int64)
            if indices.size == 0:
                raise VideoReadError(path, "no frames to sample")
            with open_video(path, "pyav", info) as reader:
                frames = SampledFrames(indices, reader.read(indices))
        return DecodedVideo(info, frames, timer.seconds["decode"])

    def score(self, video: DecodedVideo, video_id: str) -> VideoResult:
        timer = StageTimer(
            {"decode": video.seconds} | ({"decode_ahead": video.ahead_seconds} if video.ahead_seconds else {})
        )
        ens, info, frames, indices = self.ensemble, video.info, video.frames, video.frames.indices
        detections, tracks, boxes = self._tracks(video, timer)
        result = VideoResult(
            video_id,
            ens.fallback,
            None,
            "no_track" if detections.counts.any() else "no_face",  # faces found, but too few to form a track
            info=info.to_dict(),
            decoded=indices.tolist(),
            detected=detections.frame_indices.tolist(),
            faces=detections.counts.tolist(),
            tracks=[_track_summary(t) for t in tracks],
        )
        if tracks:
            crops = TrackCrops([ens.tracker.image_frames(t) for t in tracks], boxes)  # tubes: nearest detected image
            members = [self._run_member(m, frames, crops, timer, video_id) for m in ens.members]
            with timer("aggregate"):
                outputs = [m.output for m in members]
                result.raw_score = ens.rule(outputs)
                result.score = finalize(result.raw_score, ens.fallback, ens.clip)
                result.status = _status(result.raw_score)
                result.members = [_member_summary(m, ens) for m in members]
        result.timings = dict(timer.seconds)
        return result

    def faces(self, path: str, per_track: int = 4) -> list[tuple[int, np.ndarray, list[np.ndarray]]]:
        """The face crops the ensemble's models would see, for a look: per track ``(track id, source frames,
        crops)`` at up to ``per_track`` evenly spaced frames (RGB uint8, the tracker's crop boxes)."""
        video = self.decode(path)
        _, tracks, boxes = self._tracks(video, StageTimer())
        out = []
        for track, track_boxes in zip(tracks, boxes, strict=True):
            picks = np.unique(np.linspace(0, len(track) - 1, per_track).round().astype(int))
            crops = [video.frames.crop(track.frames[i], track_boxes[i]).copy() for i in picks]
            out.append((int(track.track_id), track.frames[picks], crops))
        return out

    def _tracks(self, video: DecodedVideo, timer: StageTimer) -> tuple[VideoDetections, list, list[np.ndarray]]:
        """Detections on every ``detect_every``-th decoded frame, the tracks and their per-frame crop boxes."""
        ens, info, frames, indices = self.ensemble, video.info, video.frames, video.frames.indices
        with timer("detect"):
            rows = np.arange(0, len(indices), ens.detect_every)
            found = []
            for begin in range(0, len(rows), self.detect_batch):
                found += self.detector(frames.frames[rows[begin : begin + self.detect_batch]])
            detections = VideoDetections(indices[rows], found, {"detector": self.detector.config})
        with timer("track"):
            tracks = ens.tracker.tracks(detections, info)
            boxes = [ens.tracker.crop_boxes(track, info) for track in tracks]
        return detections, tracks, boxes

    def _run_member(self, member, frames, crops, timer, video_id) -> MemberResult:
        try:
            return member.run(frames, crops, self.device, self.fp16, timer)
        except Exception as exc:  # one failing model must not cost the video its other models
            error = " ".join(str(exc).split()) or type(exc).__name__
            log.error("%s: member %s failed: %s", video_id, member.name, error)
            return MemberResult.empty(member, error)


def _status(raw_score: float | None) -> str:
    if raw_score is None:
        return "no_prediction"
    return "ok" if np.isfinite(raw_score) and 0 <= raw_score <= 1 else "invalid_score"


def _track_summary(track) -> dict[str, Any]:
    return {
        "track_id": int(track.track_id),
        "first": int(track.frames[0]),
        "last": int(track.frames[-1]),
        "frames": len(track),
        "detections": int(track.num_detections),
    }


def _member_summary(result: MemberResult, ensemble: Ensemble) -> dict[str, Any]:
    out = result.output
    alone = ensemble.rule([out]) if out.ok else None
    return {
        "name": out.name,
        "group": out.group,
        "weight": out.weight,
        "error": out.error,
        "score_alone": alone,
        "samples": result.samples,
    }
