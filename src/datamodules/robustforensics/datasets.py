"""RobustForensics samples from face-tube clips (``tracker=tubes``: one clip per face tube, every frame).

- :class:`TubeFrames` (image models): one sample per (tube, frame) with frames 0, 30, … of each tube, as the seed's
  image lists (``<tube> 1 30 10``).
- :class:`TubeClips` (SlowFast): one sample per tube, a 128-frame window read every ``step`` frames (32×4, 16×8).

Items follow :mod:`src.datamodules.ntech.datasets` (both derive :class:`~src.datamodules.clips.ClipSamples`):
``input`` ((3, H, W) images, (3, T, H, W) clips), ``label`` (1 FAKE, 0 REAL: the cross-entropy target), ``video``
and ``index``; keys may carry the sample's seed, which then drives all of its randomness (crop window,
augmentation). A clip that cannot be read is reported once and skipped.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import albumentations as A
import numpy as np
import pandas as pd
import torch

from src.datamodules.clips import ClipSamples
from src.datamodules.robustforensics.frames import strided_frames, temporal_center_crop, temporal_random_crop


class _Tubes(ClipSamples):
    def __init__(
        self, clips: pd.DataFrame, root: str | os.PathLike, transform: A.Compose, channel_order: str, seed: int
    ) -> None:
        super().__init__(root, frames=(), transform=transform, seed=seed)
        if channel_order not in ("RGB", "BGR"):
            raise ValueError(f"channel_order must be RGB or BGR, got {channel_order!r}")
        if (clips["label"] < 0).any():
            raise ValueError(f"{int((clips['label'] < 0).sum())} clips have no label (-1): cannot train or validate")
        self.clips = clips.reset_index(drop=True)
        self.videos = pd.factorize(self.clips["video_id"])[0]
        self.bgr = channel_order == "BGR"  # Xception was trained on BGR input

    def _frames_of(self, clip: int, indices: Sequence[int]) -> np.ndarray:
        """Frames ``indices`` (any order, repeats allowed) of tube ``clip``, RGB (or BGR) uint8 (N, H, W, 3)."""
        unique, inverse = np.unique(np.asarray(indices), return_inverse=True)
        frames = self._read(self.clips.iloc[clip], unique)[inverse]
        return frames[..., ::-1] if self.bgr else frames

    def _item(self, clip: int, index: int, tensor: torch.Tensor) -> dict:
        label = int(self.clips["label"].iloc[clip])
        return {"input": tensor, "label": label, "video": int(self.videos[clip]), "index": index}


class TubeFrames(_Tubes):
    """Image-model samples: every ``frame_stride``-th frame of every tube (seed: 1, 31, …, 271)."""

    def __init__(
        self,
        clips: pd.DataFrame,
        root: str | os.PathLike,
        transform: A.Compose,
        frame_stride: int = 30,
        channel_order: str = "RGB",
        seed: int = 0,
    ) -> None:
        super().__init__(clips, root, transform, channel_order, seed)
        per_clip = [strided_frames(int(n), frame_stride) for n in self.clips["num_frames"]]
        self.sample_clip = np.repeat(np.arange(len(per_clip)), [len(f) for f in per_clip])
        self.sample_frame = np.concatenate(per_clip) if per_clip else np.empty(0, np.int64)

    def __len__(self) -> int:
        return len(self.sample_clip)

    def _sample(self, index: int, seed: int) -> dict:
        clip, frame = int(self.sample_clip[index]), int(self.sample_frame[index])
        return self._item(clip, index, self._augment(self._frames_of(clip, [frame]), seed)[0])


class TubeClips(_Tubes):
    """SlowFast samples: one ``size``-frame window per tube, every ``step``-th frame (random for training)."""

    def __init__(
        self,
        clips: pd.DataFrame,
        root: str | os.PathLike,
        transform: A.Compose,
        size: int = 128,
        step: int = 4,
        random_crop: bool = True,
        channel_order: str = "RGB",
        seed: int = 0,
    ) -> None:
        super().__init__(clips, root, transform, channel_order, seed)
        self.size, self.step, self.random_crop = size, step, random_crop

    def __len__(self) -> int:
        return len(self.clips)

    def _sample(self, index: int, seed: int) -> dict:
        rng = np.random.default_rng(seed)
        num_frames = int(self.clips["num_frames"].iloc[index])
        if self.random_crop:
            frames = temporal_random_crop(num_frames, rng, self.size, self.step)
        else:
            frames = temporal_center_crop(num_frames, self.size, self.step)
        clip = self._augment(self._frames_of(index, frames), int(rng.integers(2**31)))
        return self._item(index, index, clip.transpose(0, 1))  # (T, 3, H, W) → (3, T, H, W) for the 3D net
