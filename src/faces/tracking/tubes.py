"""RobustForensics' face tubes (``save_aligned_faces.py``; ``../shared/spec/robustforensics.md`` §3 and §8.3).

1. Keep detections with score >= ``score_threshold`` (0.8); boxes are truncated to integer pixels, as RF's detection
   dumps and its inference (``int64`` cast) have them.
2. The number of faces is the mode of the per-frame face count over all sampled frames, frames without faces
   included; ties go to the count seen first. A mode of 0 means no faces.
3. Frames in order (faceless frames skipped): every face is compared (IoU with the +1 pixel convention) with the last
   box of each tube that existed when the frame began. Below ``iou_threshold`` (0.5), or with no tubes yet, it starts
   a new tube; otherwise it joins its best tube, unless that tube already took a face in this frame, in which case
   the face is dropped.
4. The ``num_faces`` longest tubes are kept (stable sort, so ties keep creation order); ``max_faces`` caps that
   number (2 at inference, none in training).
5. Every sampled frame gets each kept tube's detection nearest in time (ties to the earlier one).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from src.faces.detectors.base import VideoDetections
from src.faces.tracking.track import Track, box_iou


def face_tubes(
    detections: VideoDetections,
    score_threshold: float = 0.8,
    iou_threshold: float = 0.5,
    max_faces: int | None = None,
) -> list[Track]:
    """The kept, gap-filled tubes of one video, longest first (see the module docstring)."""
    frames = detections.frame_indices
    faces = []
    for dets in detections.frames:
        keep = dets.scores >= score_threshold
        faces.append((np.trunc(dets.boxes[keep]), dets.scores[keep]))
    num_faces = vote_num_faces([len(scores) for _, scores in faces])
    if num_faces <= 0:
        return []

    tubes: list[list[tuple[int, np.ndarray, float]]] = []  # per tube: (slot in frames, box, score)
    for slot, (boxes, scores) in enumerate(faces):
        if not len(boxes):
            continue
        existing = len(tubes)
        iou = box_iou(boxes, np.stack([t[-1][1] for t in tubes]), pixel_inclusive=True) if tubes else None
        claimed: set[int] = set()
        for i in range(len(boxes)):
            entry = (slot, boxes[i], float(scores[i]))
            best = int(np.argmax(iou[i])) if existing else -1
            if best < 0 or iou[i, best] < iou_threshold:
                tubes.append([entry])
            elif best not in claimed:
                claimed.add(best)
                tubes[best].append(entry)

    longest = sorted(tubes, key=len, reverse=True)
    num_faces = min(num_faces, len(tubes), max_faces or len(tubes))
    return [_filled(track_id, tube, frames) for track_id, tube in enumerate(longest[:num_faces])]


def vote_num_faces(counts: list[int]) -> int:
    """Mode of the per-frame face counts; among equally frequent counts, the one that occurs first."""
    if not counts:
        return 0
    tally = Counter(counts)
    best = max(tally.values())
    return next(c for c in counts if tally[c] == best)


def nearest_in_time(known: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """For each frame in ``wanted``, the position in sorted ``known`` of the nearest frame; ties take the earlier."""
    known = np.asarray(known, np.int64)
    wanted = np.asarray(wanted, np.int64)
    after = np.clip(np.searchsorted(known, wanted, side="left"), 0, len(known) - 1)
    before = np.clip(after - 1, 0, len(known) - 1)
    take_after = np.abs(known[after] - wanted) < np.abs(wanted - known[before])
    return np.where(take_after, after, before)


def nearest_detected(track: Track, frames: np.ndarray) -> np.ndarray:
    """For each frame, the position in ``track`` of its detected frame nearest in time (ties to the earlier): whose
    image RobustForensics showed for a frame the tube filled (``save_aligned_faces.py`` kept it as ``source``)."""
    detected = np.flatnonzero(track.detected) if track.detected.any() else np.arange(len(track))
    return detected[nearest_in_time(track.frames[detected], frames)]


def _filled(track_id: int, tube: list[tuple[int, np.ndarray, float]], frames: np.ndarray) -> Track:
    slots = np.array([slot for slot, _, _ in tube])
    boxes = np.stack([box for _, box, _ in tube])
    scores = np.array([score for _, _, score in tube], np.float32)
    nearest = nearest_in_time(frames[slots], frames)
    detected = slots[nearest] == np.arange(len(frames))
    return Track(track_id, frames, boxes[nearest], np.where(detected, scores[nearest], 0.0), detected)
