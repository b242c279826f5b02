"""Real↔fake pairs: which clip of a fake shows the same face as which clip of its original video.

Matching follows NTech's ``generate_aligned_tracks.py`` (``ntechlab_detail.md`` §1.4): for each track of the
original with at least ``min_detections`` detections, the first track of the fake (in tracker order, same length
rule) that shares at least one detection frame and whose boxes have IoU > ``min_iou`` on *every* shared frame.
DFDC and FaceForensics++ fakes keep the original's geometry, so the same face sits at the same place in both. A
fake stored at another frame size (FF++ Face2Face/NeuralTextures at 832x480 vs 854x480) is matched and cut in the
original's coordinates: its boxes are scaled, and its frames resized, to the original's size.

Geometry of the fake's clips:

* ``per_pair`` (NTech, ``generate_aligned_tracks.py`` + ``extract_tracks_from_videos.py``): one window per matched
  (original track, fake track) pair, at a random detection of their common range, cut in both videos with one box:
  the middle detection's 1.5x box of the original or of the fake track, chosen at random. The original gets one
  real clip per distinct window (:func:`pair_windows` gives both sides the same windows, seeded per pair).
* ``shared``: a matched fake track is cut with exactly the source frames and crop boxes of the original's own clip,
  so one real clip serves every fake of its original, always with the real track's box.

Both are pixel-aligned (what pair mixup needs); fake tracks without a pair keep clips of their own.
* ``own`` (RobustForensics, which never pairs): every video is cut with its own detections; a fake clip is paired
  with the overlapping clip of the matched original track for bookkeeping, and is aligned only if the boxes and
  frames happen to be identical.

``pair_iou`` is the mean IoU of the two videos' independent detections on their shared detection frames inside
the clip (on all shared frames if the clip holds none): how well the fake's own face geometry agrees.
"""

from __future__ import annotations

import math
from collections.abc import Callable
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
    geometry: Literal["per_pair", "shared", "own"] = "shared"
    min_detections: int = 5
    min_iou: float = 0.5

    def __post_init__(self) -> None:
        if self.geometry not in ("per_pair", "shared", "own"):
            raise ValueError(f"pairing geometry must be 'per_pair', 'shared' or 'own', got {self.geometry!r}")

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
        frame_size: tuple[int, int] | None = None,
    ) -> list[PairedClip]:
        """The clips to cut from a fake of ``num_frames`` frames, with their pairs in the original (``shared`` and
        ``own`` geometry; ``per_pair``: :func:`pair_windows`). ``fake_tracks`` are in the original's coordinates;
        ``frame_size`` (the original's width, height) is set when the fake's frames must be resized to them.

        A shared clip reaching past the fake's last frame is cut short and then no longer counts as aligned.
        """
        matches = self.match(original_tracks, fake_tracks)
        reals = {t.track_id: t for t in original_tracks}
        fakes = {t.track_id: t for t in fake_tracks}
        if self.geometry == "shared":
            paired: dict[str, PairedClip] = {}
            for clip in original_clips:
                fake_id = matches.get(clip.track_id)
                keep = clip.image_frames < (num_frames if num_frames is not None else np.inf)
                if fake_id is None or not keep.any():
                    continue
                plan = replace(clip.subset(keep), track_id=fake_id, frame_size=frame_size)
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


@dataclass
class PairWindow:
    """One NTech pair: the clip to cut from the original and the aligned clip to cut from the fake."""

    real: ClipPlan
    fake: ClipPlan
    iou: float


def pair_windows(
    pairing: Pairing,
    originals: list[Track],
    original_crops: dict[int, np.ndarray],
    fakes: list[Track],
    fake_crops: dict[int, np.ndarray],
    num_frames: int,
    clip_length: int,
    detection_step: int,
    rng_of: Callable[[int, int], np.random.Generator],
    frame_size: tuple[int, int] | None = None,
) -> list[PairWindow]:
    """NTech's windows of one original and one fake (``per_pair`` geometry, see the module docstring).

    Tracks and crop boxes (per track id) are in the original's coordinates; ``num_frames`` is the shorter video's;
    ``rng_of(original_track_id, fake_track_id)`` draws the window start and which track's box is used, so the
    original's and the fake's extraction get the same windows. A pair needs ``clip_length // detection_step``
    common detections (8 for 50 frames at step 6).
    """
    span = max(1, clip_length // detection_step)
    fakes_by_id = {t.track_id: t for t in fakes}
    windows = []
    for real_id, fake_id in pairing.match(originals, fakes).items():
        real, fake = next(t for t in originals if t.track_id == real_id), fakes_by_id[fake_id]
        common, ri, fi = np.intersect1d(real.frames[real.detected], fake.frames[fake.detected], return_indices=True)
        if len(common) < span:
            continue
        rng = rng_of(real_id, fake_id)
        start = int(rng.integers(0, len(common) - span + 1))
        middle = start + span // 2
        use_real = rng.random() < 0.5
        box = (original_crops[real_id][real.detected] if use_real else fake_crops[fake_id][fake.detected])[
            (ri if use_real else fi)[middle]
        ]
        frames = np.arange(common[start], min(common[start] + clip_length, num_frames))
        boxes = np.repeat(box[None], len(frames), axis=0)
        tag = f"{box[0]}_{box[1]}"  # NTech named a clip <video>_<start>_<xmin>_<ymin>
        windows.append(
            PairWindow(
                ClipPlan(real_id, frames, boxes, tag=tag),
                ClipPlan(fake_id, frames, boxes, frame_size=frame_size, tag=tag),
                clip_iou(real, fake, frames),
            )
        )
    return windows


def in_original_coordinates(track: Track, crops: np.ndarray, scale: tuple[float, float], size: tuple[int, int]):
    """A fake's track and crop boxes scaled by ``scale`` (x, y) into a frame of ``size`` (width, height)."""
    factor = np.array([scale[0], scale[1], scale[0], scale[1]])
    width, height = size
    boxes = np.clip(np.round(np.asarray(crops, np.float64) * factor), 0, [width, height, width, height])
    return replace(track, boxes=track.boxes * factor), boxes.astype(np.int64)


def pair_with_original(
    pairing: Pairing,
    fake: tuple[list[Track], dict[int, np.ndarray], list[ClipPlan]],
    original: tuple[list[Track], dict[int, np.ndarray], list[ClipPlan]],
    fake_size: tuple[int, int],
    original_size: tuple[int, int],
    num_frames: int,
    windows: Callable[[list[Track], dict[int, np.ndarray], list[Track], dict[int, np.ndarray]], list[PairWindow]],
) -> tuple[list[PairedClip], str]:
    """The clips to cut from a fake of ``num_frames`` frames, and a one-line status for its manifest.

    ``fake`` and ``original`` are (tracks, crop boxes per track id, own clip plans), sizes (width, height);
    ``windows`` computes the ``per_pair`` windows. A fake of another frame size is paired in the original's
    coordinates (``shared`` and ``per_pair``: its frames are resized to the original's size before cutting).
    """
    tracks, crops, plans = fake
    resize = None
    if fake_size != original_size:
        resize = original_size
        scale = (original_size[0] / fake_size[0], original_size[1] / fake_size[1])
        scaled = [in_original_coordinates(t, crops[t.track_id], scale, original_size) for t in tracks]
        tracks, crops = [t for t, _ in scaled], {t.track_id: c for t, c in scaled}
    if pairing.geometry == "per_pair":
        found = windows(original[0], original[1], tracks, crops)
        paired = [PairedClip(w.fake, w.real.name, w.iou, aligned=True) for w in found]
        covered = {w.fake.track_id for w in found}
        clips = paired + [PairedClip(c) for c in plans if c.track_id not in covered]
    else:  # own: the fake's clips stay in its own coordinates; matching uses the scaled tracks
        clips = pairing.pair(tracks, plans, original[0], original[2], num_frames, resize)
    count = sum(1 for c in clips if c.pair_clip)
    across = f", across sizes {fake_size[0]}x{fake_size[1]} -> {original_size[0]}x{original_size[1]}" if resize else ""
    return clips, f"{count} of {len(clips)} clips paired ({pairing.geometry} geometry{across})"
