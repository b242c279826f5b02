"""Real↔fake pairs: which clip of a fake shows the same face as which clip of its original video.

Matching follows NTech's ``generate_aligned_tracks.py`` (``ntechlab_detail.md`` §1.4): for each track of the
original with at least ``min_detections`` detections, the first track of the fake (in tracker order, same length
rule) that shares at least one detection frame and whose boxes have IoU > ``min_iou`` on *every* shared frame.
DFDC and FaceForensics++ fakes keep the original's geometry, so the same face sits at the same place in both.

Geometry of the fake's clips:

* ``shared`` (NTech): a matched fake track is cut with exactly the source frames and crop boxes of the original's
  clip, so the two clips are pixel-aligned (what pair mixup needs). One real clip then serves every fake of its
  original, where NTech cut a real copy per pair; NTech also took the shared box from the real or the fake track
  at random, here it is always the real one's. Fake tracks without a paired clip keep clips of their own.
* ``own`` (RobustForensics, which never pairs): every video is cut with its own detections; a fake clip is paired
  with the overlapping clip of the matched original track for bookkeeping, and is aligned only if the boxes and
  frames happen to be identical.

``pair_iou`` is the mean IoU of the two videos' independent detections on their shared detection frames inside
the clip (on all shared frames if the clip holds none): how well the fake's own face geometry agrees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from src.faces.clips import ClipPlan
from src.faces.tracking import Track, box_iou


@dataclass
class PairedClip:
    """A clip to cut from a fake (or unpaired) video and, when paired, the name of its clip in the original."""

    plan: ClipPlan
    pair_clip: str | None = None
    pair_iou: float = math.nan
    aligned: bool = False


@dataclass
class Pairing:
    geometry: Literal["shared", "own"] = "shared"
    min_detections: int = 5
    min_iou: float = 0.5

    def __post_init__(self) -> None:
        if self.geometry not in ("shared", "own"):
            raise ValueError(f"pairing geometry must be 'shared' or 'own', got {self.geometry!r}")

    @property
    def config(self) -> dict[str, Any]:
        return {"geometry": self.geometry, "min_detections": self.min_detections, "min_iou": self.min_iou}

    def match(self, originals: list[Track], fakes: list[Track]) -> dict[int, int]:
        """Original track id -> fake track id (see the module docstring)."""
        fakes = [f for f in fakes if f.num_detections >= self.min_detections]
        matches = {}
        for real in originals:
            if real.num_detections < self.min_detections:
                continue
            for fake in fakes:
                ious = shared_ious(real, fake)
                if len(ious) and ious.min() > self.min_iou:
                    matches[real.track_id] = fake.track_id
                    break
        return matches

    def pair(
        self,
        fake_tracks: list[Track],
        fake_clips: list[ClipPlan],
        original_tracks: list[Track],
        original_clips: list[ClipPlan],
        num_frames: int | None = None,
    ) -> list[PairedClip]:
        """The clips to cut from a fake of ``num_frames`` frames, with their pairs in the original.

        A shared clip reaching past the fake's last frame is cut short and then no longer counts as aligned.
        """
        matches = self.match(original_tracks, fake_tracks)
        reals = {t.track_id: t for t in original_tracks}
        fakes = {t.track_id: t for t in fake_tracks}
        if self.geometry == "shared":
            paired: dict[str, PairedClip] = {}
            for clip in original_clips:
                fake_id = matches.get(clip.track_id)
                keep = clip.source_frames < (num_frames if num_frames is not None else np.inf)
                if fake_id is None or not keep.any():
                    continue
                plan = replace(clip.subset(keep), track_id=fake_id)
                if plan.name not in paired:  # two real tracks on one fake track: the first wins
                    iou = clip_iou(reals[clip.track_id], fakes[fake_id], plan.source_frames)
                    paired[plan.name] = PairedClip(plan, clip.name, iou, aligned=bool(keep.all()))
            covered = {p.plan.track_id for p in paired.values()}
            return list(paired.values()) + [PairedClip(c) for c in fake_clips if c.track_id not in covered]
        result = []
        for clip in fake_clips:
            candidates = [c for c in original_clips if matches.get(c.track_id) == clip.track_id]
            overlaps = [len(np.intersect1d(c.source_frames, clip.source_frames)) for c in candidates]
            if not candidates or max(overlaps) == 0:
                result.append(PairedClip(clip))
                continue
            real = candidates[int(np.argmax(overlaps))]
            iou = clip_iou(reals[real.track_id], fakes[clip.track_id], clip.source_frames)
            result.append(PairedClip(clip, real.name, iou, aligned=same_geometry(real, clip)))
        return result


def shared_ious(a: Track, b: Track, frames: np.ndarray | None = None) -> np.ndarray:
    """IoU of the two tracks' detected boxes on the frames where both have a detection (optionally within frames)."""
    fa, fb = a.frames[a.detected], b.frames[b.detected]
    common, ia, ib = np.intersect1d(fa, fb, return_indices=True)
    if frames is not None:
        inside = np.isin(common, frames)
        ia, ib = ia[inside], ib[inside]
    boxes_a, boxes_b = a.boxes[a.detected][ia], b.boxes[b.detected][ib]
    return np.diagonal(box_iou(boxes_a, boxes_b)) if len(ia) else np.zeros(0)


def clip_iou(a: Track, b: Track, frames: np.ndarray) -> float:
    """Mean detection IoU of two tracks inside a clip's frames, or over all shared frames if the clip has none."""
    ious = shared_ious(a, b, frames)
    if not len(ious):
        ious = shared_ious(a, b)
    return float(ious.mean()) if len(ious) else math.nan


def same_geometry(a: ClipPlan, b: ClipPlan) -> bool:
    """True when clip frame i of both is the same source frame, showing the same image cut with the same box."""
    return (
        np.array_equal(a.source_frames, b.source_frames)
        and np.array_equal(a.image_frames, b.image_frames)
        and np.array_equal(a.crop_boxes, b.crop_boxes)
    )


def pair_with_original(
    pairing: Pairing,
    fake_tracks: list[Track],
    fake_clips: list[ClipPlan],
    fake_size: tuple[int, int],
    num_frames: int,
    original_tracks: list[Track],
    original_clips: list[ClipPlan],
    original_size: tuple[int, int],
) -> tuple[list[PairedClip], str]:
    """The clips to cut from a fake whose original has been tracked, and a one-line status for its manifest.

    Sizes are (width, height). Boxes cannot be shared between videos of different sizes, so such a pair falls back
    to ``own`` geometry.
    """
    rule = pairing
    if original_size != fake_size:
        rule = Pairing("own", pairing.min_detections, pairing.min_iou)
    clips = rule.pair(fake_tracks, fake_clips, original_tracks, original_clips, num_frames=num_frames)
    paired = sum(1 for c in clips if c.pair_clip)
    return clips, f"{paired} of {len(clips)} clips paired ({rule.geometry} geometry)"
