"""NTechLab's face tracks: the greedy IoU tracker of Bochinski et al. (2017) and test-time box interpolation.

Faithful to ``generate_tracks.py`` / ``predict.py`` (see ``../shared/spec/ntechlab_detail.md`` §1.3 and §5): a
detection below ``sigma_l`` is ignored; each active track, in order, takes the remaining detection of the next sampled
frame with the highest IoU to its last box if that IoU reaches ``sigma_iou``; a track that is not extended ends at
once (no gap tolerance); it is kept if its best score reaches ``sigma_h`` and it has at least ``t_min`` detections
(1 for training, 7 at test time). IoU is plain xyxy without the +1 pixel convention. Tracks are returned in the order
they end, which is the order NTech's pairing scans them in.
"""

from __future__ import annotations

import numpy as np

from src.faces.detectors.base import VideoDetections
from src.faces.tracking.track import Track, box_iou


def iou_tracks(
    detections: VideoDetections,
    sigma_l: float = 0.3,
    sigma_h: float = 0.9,
    sigma_iou: float = 0.3,
    t_min: int = 1,
) -> list[Track]:
    """Link the detections of consecutive sampled frames into tracks (see the module docstring)."""
    active: list[list[tuple[int, np.ndarray, float]]] = []  # per track: (frame, box, score) entries
    finished: list[list[tuple[int, np.ndarray, float]]] = []

    def finish(track: list[tuple[int, np.ndarray, float]]) -> None:
        if max(score for _, _, score in track) >= sigma_h and len(track) >= t_min:
            finished.append(track)

    for frame, dets in zip(detections.frame_indices.tolist(), detections.frames, strict=True):
        keep = dets.scores >= sigma_l
        boxes, scores = dets.boxes[keep], dets.scores[keep]
        free = np.ones(len(boxes), bool)
        iou = box_iou(np.stack([t[-1][1] for t in active]) if active else np.zeros((0, 4)), boxes)
        extended = []
        for row, track in enumerate(active):
            candidates = np.where(free, iou[row], -1.0)
            best = int(np.argmax(candidates)) if free.any() else -1
            if best >= 0 and candidates[best] >= sigma_iou:
                track.append((frame, boxes[best], float(scores[best])))
                free[best] = False
                extended.append(track)
            else:
                finish(track)
        active = extended + [[(frame, boxes[i], float(scores[i]))] for i in np.flatnonzero(free)]
    for track in active:
        finish(track)
    return [_to_track(i, entries) for i, entries in enumerate(finished)]


def interpolate_track(track: Track, frames: np.ndarray) -> Track:
    """The track's boxes at ``frames`` (those between its first and last detection), linear per coordinate.

    NTech's test-time tracks are interpolated with ``np.interp`` to every frame of the 15 fps stream between the
    first and the last detection; pass those frames here. Only detected boxes serve as knots; a frame that is not a
    detection frame comes back with ``detected=False`` and score 0.
    """
    knots = track.frames[track.detected]
    frames = np.asarray(frames, np.int64).reshape(-1)
    frames = np.unique(frames[(frames >= knots[0]) & (frames <= knots[-1])])
    boxes = np.stack([np.interp(frames, knots, track.boxes[track.detected, k]) for k in range(4)], axis=1)
    slot = np.minimum(np.searchsorted(knots, frames), len(knots) - 1)
    hit = knots[slot] == frames
    scores = np.where(hit, track.scores[track.detected][slot], 0.0)
    return Track(track.track_id, frames, boxes, scores, hit)


def _to_track(track_id: int, entries: list[tuple[int, np.ndarray, float]]) -> Track:
    frames, boxes, scores = zip(*entries, strict=True)
    return Track(track_id, np.array(frames), np.stack(boxes), np.array(scores), np.ones(len(frames), bool))
