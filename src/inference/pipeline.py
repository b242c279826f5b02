"""Score one raw video with an ensemble, in memory: probe → sampled decode (one PyAV pass, in chunks) → detect →
track and crop boxes (the preprocessing tracker objects) → the crops the members read → each member on its crops →
aggregation rule → P(fake). Everything up to the crops (:class:`FacePreparer`) can run in worker processes, ahead.

Each video is scored on its own (no state carries over between videos, batches never mix videos), so a video's
score does not depend on which other videos are in the run. A video without a usable face track gets the fallback;
a member that raises is left out of the rule and named in the report; errors that stop the video (unreadable file)
propagate as one-line exceptions for the runner to record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from src.faces.detectors.base import FaceDetector, VideoDetections
from src.inference.aggregation import finalize
from src.inference.crops import CropRecipe, TrackCrops
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


class CropStore:
    """The face crops a video's members read, cut once from the decoded frames and addressed like
    :meth:`SampledFrames.crop` (source frame, int xyxy box), so only crops, never whole frames, outlive decoding."""

    def __init__(self) -> None:
        self._crops: dict[tuple[int, ...], np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._crops)

    @staticmethod
    def key(frame: int, box: np.ndarray) -> tuple[int, ...]:
        return (int(frame), *(int(v) for v in box))

    def add(self, frames: SampledFrames, wanted: dict[int, set[tuple[int, ...]]]) -> None:
        """Cut the ``wanted`` crops (frame → keys) that lie in ``frames``; copies, so the frames can be freed."""
        for frame in frames.indices.tolist():
            for key in wanted.get(frame, ()):
                self._crops[key] = frames.crop(frame, np.asarray(key[1:])).copy()

    def crop(self, frame: int, box: np.ndarray) -> np.ndarray:
        return self._crops[self.key(frame, box)]


@dataclass
class PreparedVideo:
    """A video up to the models: its sampling, detections, tracks with crop boxes and the crops themselves."""

    info: VideoInfo
    indices: np.ndarray  # the sampled (decoded) source frames
    detections: VideoDetections
    tracks: list
    boxes: list[np.ndarray]  # per track, its crop box on every track frame
    crops: CropStore
    seconds: dict[str, float]  # preparation stages (decode, detect, track, cut); in a worker they overlap scoring
    full_frames_peak: int  # the most full-resolution frames held at once
    waited: float = 0.0  # what the scoring loop waited for this video (set by the prefetcher)
    frames: SampledFrames | None = None  # the sampled frames themselves, when asked for and within the budget


@dataclass
class FacePreparer:
    """``preparer(path) -> PreparedVideo``: everything before the models, in one picklable object (no models) that
    worker processes run ahead of scoring.

    Memory is bounded by design: frames are decoded in chunks of ``detect_batch · detect_every`` sampled frames,
    detected chunk by chunk, and kept only while the whole sampling fits ``frame_budget_mb`` (a 10-s 1080p video at
    15 fps is ~930 MB); a longer video is decoded a second time, sparsely (the frames its crops need, chunk by
    chunk), once its tracks are known. Either way only the crops leave this object.
    """

    sampling: Callable[[VideoInfo], np.ndarray]
    detect_every: int
    tracker: Any
    recipes: list[CropRecipe]
    detector: FaceDetector
    detect_batch: int = 16
    frame_budget_mb: float = 1024.0

    @property
    def chunk(self) -> int:
        return self.detect_batch * self.detect_every

    def __call__(
        self, path: str, per_track: int = 0, keep_frames: bool = False, frames: SampledFrames | None = None
    ) -> PreparedVideo:
        """``per_track`` > 0 also cuts that many evenly spaced crops per track (for :meth:`Predictor.faces`).
        ``keep_frames`` returns the sampled frames in :attr:`PreparedVideo.frames` when they fit the frame budget
        (for pictures of the video); ``frames`` (such frames, from an earlier call on the same video and sampling)
        are used instead of decoding again, e.g. to prepare the video with another detector or tracker."""
        timer = StageTimer()
        with timer("decode"):
            info = probe(path)
            indices = np.asarray(self.sampling(info), np.int64)
            if indices.size == 0:
                raise VideoReadError(path, "no frames to sample")
            if frames is not None and not np.array_equal(frames.indices, indices):
                raise ValueError(f"{path}: the frames given are not this preparer's sampling of the video")
        keep = frames is not None or indices.size * info.width * info.height * 3 <= self.frame_budget_mb * 2**20
        kept: list[SampledFrames] = []
        found: list = []
        peak = 0
        chunks = self._chunks(path, info, indices, timer) if frames is None else _slices(frames, self.chunk)
        for chunk in chunks:
            with timer("detect"):
                found += self.detector(chunk.frames[:: self.detect_every])
            kept += [chunk] if keep else []
            peak = max(peak, sum(len(c.indices) for c in kept) if keep else len(chunk.indices))
        with timer("track"):
            rows = np.arange(0, len(indices), self.detect_every)
            detections = VideoDetections(indices[rows], found, {"detector": self.detector.config})
            tracks = self.tracker.tracks(detections, info)
            boxes = [self.tracker.crop_boxes(track, info) for track in tracks]
            wanted = self._wanted(tracks, boxes, per_track)
        crops = CropStore()
        with timer("cut"):
            for chunk in kept:
                crops.add(chunk, wanted)
        if keep_frames and keep and frames is None:  # the decoded frames themselves (a list), not a copy
            frames = SampledFrames(indices, [frame for chunk in kept for frame in chunk.frames])
        del kept
        if not keep and wanted:  # second, sparse pass: only the frames the crops need
            for chunk in self._chunks(path, info, np.array(sorted(wanted), np.int64), timer):
                with timer("cut"):
                    crops.add(chunk, wanted)
        seconds = dict(timer.seconds)
        kept_frames = frames if keep_frames else None
        return PreparedVideo(info, indices, detections, tracks, boxes, crops, seconds, peak, frames=kept_frames)

    def _chunks(self, path: str, info: VideoInfo, indices: np.ndarray, timer: StageTimer) -> Iterator[SampledFrames]:
        """Decoded frames ``indices`` in chunks, one PyAV pass; the decoding time goes to ``decode``."""
        with open_video(path, "pyav", info) as reader:
            chunks = reader.iter_chunk_lists(self.chunk, indices)
            while True:
                with timer("decode"):
                    chunk = next(chunks, None)
                if chunk is None:
                    return
                yield SampledFrames(*chunk)

    def _wanted(self, tracks: list, boxes: list[np.ndarray], per_track: int) -> dict[int, set[tuple[int, ...]]]:
        """Source frame → the crop keys any recipe (or the per-track look) reads from it."""
        wanted: dict[int, set[tuple[int, ...]]] = {}
        track_crops = TrackCrops([self.tracker.image_frames(t) for t in tracks], boxes)
        units = [(u.frames, u.boxes) for recipe in self.recipes for u in recipe.units(track_crops)]
        for track, track_boxes in zip(tracks, boxes, strict=True) if per_track else ():
            picks = _evenly(len(track), per_track)
            units.append((track.frames[picks], track_boxes[picks]))
        for frames, unit_boxes in units:
            for frame, box in zip(frames.tolist(), unit_boxes, strict=True):
                wanted.setdefault(frame, set()).add(CropStore.key(frame, box))
        return wanted


@dataclass
class Predictor:
    """``predictor(path, video_id) -> VideoResult`` with one ensemble and one face detector.

    ``prepare`` (decode, detect, track, cut crops: a :class:`FacePreparer`, picklable, so worker processes can run it
    for the next videos) and ``score`` (the models and the rule, in this process) are the two halves.
    """

    ensemble: Ensemble
    detector: FaceDetector
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    fp16: bool = True
    detect_batch: int = 16
    frame_budget_mb: float = 1024.0

    def __post_init__(self) -> None:
        for member in self.ensemble.members:
            member.model.net.to(self.device).eval()
        ens = self.ensemble
        self.prepare = FacePreparer(
            ens.sampling,
            ens.detect_every,
            ens.tracker,
            [m.crops for m in ens.members],
            self.detector,
            self.detect_batch,
            self.frame_budget_mb,
        )

    def __call__(self, path: str, video_id: str) -> VideoResult:
        return self.score(self.prepare(path), video_id)

    def score(self, video: PreparedVideo, video_id: str) -> VideoResult:
        timer = StageTimer(video.seconds | ({"wait": video.waited} if video.waited else {}))
        ens, detections, tracks = self.ensemble, video.detections, video.tracks
        result = VideoResult(
            video_id,
            ens.fallback,
            None,
            "no_track" if detections.counts.any() else "no_face",  # faces found, but too few to form a track
            info=video.info.to_dict(),
            decoded=video.indices.tolist(),
            detected=detections.frame_indices.tolist(),
            faces=detections.counts.tolist(),
            tracks=[_track_summary(t) for t in tracks],
        )
        if tracks:
            crops = TrackCrops(
                [ens.tracker.image_frames(t) for t in tracks], video.boxes
            )  # tubes: nearest detected image
            members = [self._run_member(m, video.crops, crops, timer, video_id) for m in ens.members]
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
        video = self.prepare(path, per_track=per_track)
        out = []
        for track, track_boxes in zip(video.tracks, video.boxes, strict=True):
            picks = _evenly(len(track), per_track)
            crops = [video.crops.crop(track.frames[i], track_boxes[i]) for i in picks]
            out.append((int(track.track_id), track.frames[picks], crops))
        return out

    def _run_member(self, member, crops, tracks, timer, video_id) -> MemberResult:
        try:
            return member.run(crops, tracks, self.device, self.fp16, timer)
        except Exception as exc:  # one failing model must not cost the video its other models
            error = " ".join(str(exc).split()) or type(exc).__name__
            log.error("%s: member %s failed: %s", video_id, member.name, error)
            return MemberResult.empty(member, error)


def _slices(frames: SampledFrames, size: int) -> Iterator[SampledFrames]:
    for begin in range(0, len(frames.indices), size):
        yield SampledFrames(frames.indices[begin : begin + size], frames.frames[begin : begin + size])


def _evenly(length: int, count: int) -> np.ndarray:
    return np.unique(np.linspace(0, length - 1, count).round().astype(int))


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
