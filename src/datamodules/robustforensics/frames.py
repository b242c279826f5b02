"""Which frames of a face tube RobustForensics reads (spec robustforensics.md §4, §6.2; faithful list 2).

Our tube clips are 0-based; the seed's frame files are 1-based (``frame1.png`` is clip frame 0).
- Image models: the list lines ``<tube> 1 30 <count>`` → clip frames 0, 30, 60, … (10 for a 300-frame video),
  each (tube, frame) one sample.
- SlowFast: ``TemporalRandomCrop(128, step)`` for training, ``TemporalCenterCrop(128, step)`` for validation: a
  window of 128 consecutive frames (looped when the tube is shorter), every ``step``-th frame of it.
"""

from __future__ import annotations

import numpy as np


def strided_frames(num_frames: int, stride: int = 30, start: int = 0) -> np.ndarray:
    """The image models' frames of one tube: ``start, start + stride, …`` below ``num_frames``."""
    return np.arange(start, num_frames, stride)


def _looped_window(begin: int, num_frames: int, size: int, step: int) -> np.ndarray:
    window = np.arange(begin, min(begin + size, num_frames))
    return window[np.arange(size) % len(window)][::step]


def temporal_random_crop(num_frames: int, rng: np.random.Generator, size: int = 128, step: int = 4) -> np.ndarray:
    """Seed's ``TemporalRandomCrop``: begin uniform in ``[0, max(0, N - size - 1)]`` (the last start is never drawn)."""
    if num_frames <= 0:
        raise ValueError("temporal_random_crop: the clip has no frames")
    begin = int(rng.integers(0, max(0, num_frames - size - 1), endpoint=True))
    return _looped_window(begin, num_frames, size, step)


def temporal_center_crop(num_frames: int, size: int = 128, step: int = 4) -> np.ndarray:
    """Seed's ``TemporalCenterCrop``: the window starts at ``max(0, N // 2 - size // 2)``."""
    if num_frames <= 0:
        raise ValueError("temporal_center_crop: the clip has no frames")
    return _looped_window(max(0, num_frames // 2 - size // 2), num_frames, size, step)
