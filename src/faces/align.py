"""Crop boxes around tracked faces: integer xyxy boxes inside the frame, one size per clip.

* NTechLab (``extract_tracks_from_videos.py`` / ``predict.py``): width and height scaled by ``mult`` (1.5) about the
  centre, truncated to integers, clamped to the frame. Training cuts a whole clip with the box of its middle
  detection; the clamping can make it smaller than 1.5x near a border.
* RobustForensics (``get_boundingbox`` + ``adjust_boundingbox``): per frame, side ``int(1.3 * max(w, h))`` on the
  integer box, clamped at the right/bottom border; the tube's side is the maximum of those, rounded down to even and
  at most ``min(H, W)``; each frame's square of that side is centred on its own detection and shifted inside the frame.
"""

from __future__ import annotations

import numpy as np


def scaled_boxes(boxes: np.ndarray, mult: float, width: int, height: int) -> np.ndarray:
    """NTech's crop: (N, 4) boxes scaled ``mult`` times about their centres, truncated, clamped; int64 (N, 4)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]) * mult / 2
    crop = np.trunc(np.concatenate([centre - half, centre + half], axis=1)).astype(np.int64)
    return np.clip(crop, 0, [width, height, width, height])


def tube_square_boxes(boxes: np.ndarray, width: int, height: int, scale: float = 1.3) -> np.ndarray:
    """RobustForensics' face-size alignment of one tube: int64 (N, 4) squares of one even side, inside the frame."""
    x1, y1, x2, y2 = np.trunc(np.asarray(boxes, np.float64).reshape(-1, 4)).astype(np.int64).T
    cx, cy = (x1 + x2) // 2, (y1 + y2) // 2
    size = (np.maximum(x2 - x1, y2 - y1) * scale).astype(np.int64)
    left = np.maximum(cx - size // 2, 0)
    top = np.maximum(cy - size // 2, 0)
    size = np.minimum(np.minimum(width - left, size), height - top)
    side = min(int(size.max()) // 2 * 2, width, height)
    left = np.minimum(np.maximum(cx - side // 2, 0), width - side)
    top = np.minimum(np.maximum(cy - side // 2, 0), height - side)
    return np.stack([left, top, left + side, top + side], axis=1)


def crop(frame: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The pixels of integer xyxy ``box`` (right and bottom edges exclusive)."""
    x1, y1, x2, y2 = (int(v) for v in box)
    return frame[y1:y2, x1:x2]
