"""Score a few videos for a person who asks "is this fake?": each video's P(fake), per face track and per model,
the path its faces took, and everything the HTML report shows (:mod:`src.inference.report`).

The scoring itself is the prediction pipeline's (:class:`~src.inference.pipeline.Predictor`); this module adds what
a one-off look needs:

* the detections the predictor made are recorded (a wrapper around the detector), so the report can draw them and
  the tracks and crop boxes the models saw are rebuilt from them without detecting twice;
* a video whose detector found faces that never formed a track (a clip too short for the tracker's ``t_min``) is
  scored again with ``t_min`` lowered to what the clip has, and the report says so;
* ``faces=whole_frame`` scores the whole frame as the face; ``faces=auto`` (default) does that only when the detector
  found no face in a small, nearly square video (a face crop: dataset crops, uploads); ``faces=detector`` never;
* an unreadable file or a video without a face gets the fallback and a verdict in words, never a crash.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy.special import logit

from src.faces.detectors.base import FaceDetector, FrameDetections, Frames, VideoDetections
from src.faces.detectors.whole_frame import WholeFrameDetector
from src.inference.aggregation import MemberOutput, finalize
from src.inference.ensemble import Ensemble, SampledFrames
from src.inference.explain import Explanation, explain
from src.inference.pipeline import Predictor, PreparedVideo, VideoResult
from src.utils.config import one_line
from src.video.io import open_video

log = logging.getLogger(__name__)
FacesMode = Literal["auto", "detector", "whole_frame"]
CROP_MAX_SIDE = 640  # faces=auto: a video at most this large ...
CROP_MAX_ASPECT = 1.5  # ... and about this square is taken for a face crop when no face is found


class RecordingDetector(FaceDetector):
    """Passes frames to ``inner`` and keeps what it found, in call order (reset per video)."""

    takes_frame_lists = True  # ``inner`` stacks them if it needs to

    def __init__(self, inner: FaceDetector):
        self.inner, self.name, self.found = inner, inner.name, []

    def detect(self, frames: Frames) -> list[FrameDetections]:
        found = self.inner(frames)
        self.found += found
        return found

    @property
    def config(self) -> dict[str, Any]:
        return self.inner.config


class ReplayDetector(FaceDetector):
    """Answers, in call order, with what ``inner`` found earlier on the same frames: a video prepared again with
    other tracker settings is not detected again."""

    takes_frame_lists = True

    def __init__(self, inner: FaceDetector, found: list[FrameDetections]):
        self.inner, self.name, self._found, self._next = inner, inner.name, list(found), 0

    def detect(self, frames: Frames) -> list[FrameDetections]:
        found = self._found[self._next : self._next + len(frames)]
        if len(found) != len(frames):
            raise RuntimeError(f"{self.name}: asked for more frames than were detected before ({len(self._found)})")
        self._next += len(frames)
        return found

    @property
    def config(self) -> dict[str, Any]:
        return self.inner.config


@dataclass
class TrackView:
    """A face track as the models saw it: its source frames, crop boxes and the per-member scores."""

    track_id: int
    frames: np.ndarray
    boxes: np.ndarray
    score: float | None  # the rule applied to this track alone
    member_scores: dict[str, float | None]


@dataclass
class ScoredVideo:
    path: str
    score: float
    verdict: str  # one line for the terminal and the report's headline
    faces_path: str  # how the faces were found: the detector, the whole frame, a lowered t_min
    result: VideoResult | None = None
    frames: SampledFrames | None = None
    detections: VideoDetections | None = None
    tracks: list[TrackView] = field(default_factory=list)
    explanation: Explanation | None = None
    error: str | None = None


def sampled_frames(path: str, video: PreparedVideo, chunk: int = 32) -> SampledFrames:
    """The video's sampled frames for the report's pictures (prediction itself keeps only the face crops)."""
    with open_video(path, "pyav", video.info) as reader:
        chunks = list(reader.iter_chunk_lists(chunk, video.indices))
    return SampledFrames(np.asarray(video.indices, np.int64), [frame for _, frames in chunks for frame in frames])


def looks_like_face_crop(height: int, width: int) -> bool:
    return max(height, width) <= CROP_MAX_SIDE and max(height, width) / max(1, min(height, width)) <= CROP_MAX_ASPECT


@dataclass
class VideoScorer:
    ensemble: Ensemble
    detector: FaceDetector
    device: Any = "cpu"
    fp16: bool = False
    detect_batch: int = 16
    faces: FacesMode = "auto"

    def __post_init__(self) -> None:
        if self.faces not in ("auto", "detector", "whole_frame"):
            raise ValueError(f"faces must be auto, detector or whole_frame, got {self.faces!r}")
        detector = WholeFrameDetector() if self.faces == "whole_frame" else self.detector
        self.predictor = self._predictor(self.ensemble, detector)

    def _predictor(self, ensemble: Ensemble, detector: FaceDetector) -> Predictor:
        return Predictor(ensemble, RecordingDetector(detector), self.device, self.fp16, self.detect_batch)

    def __call__(self, path: str | Path) -> ScoredVideo:
        path, fallback = str(path), self.ensemble.fallback
        try:
            video, result = self._run(self.predictor, path)
            frames = video.frames or sampled_frames(path, video)  # decoded again only beyond the frame budget
        except Exception as exc:  # unreadable, truncated, not a video: a verdict, not a crash
            error = one_line(exc)
            return ScoredVideo(path, fallback, f"unreadable: {error} → fallback {fallback}", "none", error=error)
        predictor = self.predictor
        faces_path = f"face detector {self.predictor.detector.name}"
        if self.faces == "whole_frame":
            faces_path = "the whole frame is the face (faces=whole_frame)"
        no_face = result.status == "no_face" and sum(result.faces) == 0
        if no_face and self.faces == "auto" and looks_like_face_crop(video.info.height, video.info.width):
            predictor = self._predictor(self.ensemble, WholeFrameDetector())
            video, result = self._run(predictor, path, frames)
            faces_path = (f"{self.predictor.detector.name} found no face in this {video.info.width}x{video.info.height}"
                          " video, taken for a face crop: the whole frame is the face (faces=auto)")  # fmt: skip
        if (
            result.status in ("no_face", "no_track")
            and sum(result.faces) > 0
            and hasattr(self.ensemble.tracker, "t_min")
        ):
            predictor, video, result, note = self._short_clip(predictor, path, result, frames)
            faces_path += f"; {note}"
        return self._view(predictor, video, frames, path, result, faces_path)

    @staticmethod
    def _run(predictor: Predictor, path: str, frames: SampledFrames | None = None) -> tuple[PreparedVideo, VideoResult]:
        """Prepare (decode unless ``frames`` are given, detect, track, crops) and score one video, keeping the
        sampled frames for the pictures; the detector records what it found."""
        predictor.detector.found = []
        video = predictor.prepare(path, keep_frames=True, frames=frames)
        return video, predictor.score(video, Path(path).name)

    def _short_clip(self, predictor: Predictor, path: str, result: VideoResult, frames: SampledFrames):
        """Faces were found but no track formed: the clip has fewer detection frames than the tracker's t_min."""
        tracker = self.ensemble.tracker
        with_face = int(np.count_nonzero(result.faces))
        lowered = dataclasses.replace(tracker, t_min=max(1, with_face))
        replay = ReplayDetector(predictor.detector.inner, predictor.detector.found)  # only the tracker changes
        predictor = self._predictor(dataclasses.replace(self.ensemble, tracker=lowered), replay)
        note = (f"short clip: {with_face} of {len(result.detected)} detection frames have a face but a track needs "
                f"t_min={tracker.t_min} detections; scored with t_min={lowered.t_min}")  # fmt: skip
        video, result = self._run(predictor, path, frames)
        return predictor, video, result, note

    def _view(
        self,
        predictor: Predictor,
        video: PreparedVideo,
        frames: SampledFrames,
        path: str,
        result: VideoResult,
        faces_path: str,
    ) -> ScoredVideo:
        ens = predictor.ensemble
        detections = VideoDetections(result.detected, predictor.detector.found)
        tracks = ens.tracker.tracks(detections, video.info)
        outputs = member_outputs(result)
        views = []
        for t, track in enumerate(tracks):
            alone = [dataclasses.replace(o, tracks=o.tracks[t : t + 1]) if t < len(o.tracks) else
                     dataclasses.replace(o, tracks=()) for o in outputs]  # fmt: skip
            views.append(
                TrackView(
                    int(track.track_id),
                    np.asarray(track.frames),
                    ens.tracker.crop_boxes(track, video.info),
                    finalize(ens.rule(alone), ens.fallback) if any(o.ok for o in alone) else None,
                    {o.name: (ens.rule([o]) if o.ok else None) for o in alone},
                )
            )
        explanation = explain(ens.rule, outputs, result.raw_score) if result.tracks else None
        return ScoredVideo(path, result.score, verdict(result, ens.fallback), faces_path, result, frames,
                           detections, views, explanation)  # fmt: skip


def member_outputs(result: VideoResult) -> list[MemberOutput]:
    """The members' logits per track, rebuilt from the report's samples (track = index in the tracker's list)."""
    outputs = []
    for member in result.members:
        samples = member["samples"]
        track = np.asarray(samples["track"], np.int64)
        prob = np.clip(np.asarray(samples["prob"], np.float64), 1e-7, 1 - 1e-7)
        count = int(track.max()) + 1 if track.size else 0
        per_track = tuple(logit(prob[track == t]) for t in range(count))
        outputs.append(MemberOutput(member["name"], per_track, member["weight"], member["group"], member["error"]))
    return outputs


def verdict(result: VideoResult, fallback: float) -> str:
    if result.status == "ok":
        call = "likely FAKE" if result.score >= 0.5 else "likely REAL"
        return f"P(fake) = {result.score:.3f}: {call}"
    if result.status == "no_face":
        return f"no face found → fallback {fallback} (if the video is a face crop: faces=whole_frame)"
    if result.status == "no_track":
        return f"faces found, but too few to form a track → fallback {fallback}"
    if result.status == "no_prediction":
        return f"faces found but no model could score them → fallback {fallback}"
    return f"the rule gave {result.raw_score} (not a probability) → fallback {fallback}"
