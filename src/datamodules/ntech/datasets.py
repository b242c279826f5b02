"""NTechLab's training samples from face clips (spec ntechlab_detail §3): aligned real↔fake pairs mixed up, and
single clips for validation.

Every item is a dict: ``input`` float (T, 3, H, W), ``target`` float (T,) (the per-frame soft label), ``label``
(1 FAKE, 0 REAL), ``video`` (number of the video within the dataset: the grouping key of the video-level metrics)
and ``index`` (the sample number: a distributed sampler's padding duplicates count once).

Keys and unreadable clips are handled by :class:`~src.datamodules.clips.ClipSamples`: with a key from
:class:`~src.datamodules.samplers.ResumableRandomSampler`, all randomness of a sample (compression, augmentation,
mixup λ) comes from its seed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import albumentations as A
import numpy as np
import pandas as pd
import torch

from src.datamodules.clips import ClipSamples
from src.datamodules.index import aligned_pairs
from src.datamodules.ntech.compression import CompressionParams, VideoCompression


def fit_offsets(offsets: Sequence[int], num_frames: int) -> np.ndarray:
    """Clip frame indices for ``offsets`` (NTech: 19, 21, ..., 31 of a 50-frame clip), shifted back to fit a
    clip cut short at its video's end (repeating frames when it is shorter than the span)."""
    offsets = np.asarray(offsets, np.int64)
    shift = min(0, num_frames - 1 - int(offsets.max()))
    return np.clip(offsets + shift, 0, num_frames - 1)


class ClipDataset(ClipSamples):
    """One clip per sample, target = its label on every frame (validation; training without pairs)."""

    def __init__(
        self,
        clips: pd.DataFrame,
        root: str | os.PathLike,
        frames: Sequence[int],
        transform: A.Compose,
        seed: int = 0,
        cache_mb: float = 0.0,
    ) -> None:
        super().__init__(root, frames, transform, seed, cache_mb)
        self.clips = clips.reset_index(drop=True)
        self.videos = pd.factorize(self.clips["video_id"])[0]

    def __len__(self) -> int:
        return len(self.clips)

    def _sample(self, index: int, seed: int) -> dict:
        row = self.clips.iloc[index]
        frames = self._augment(self._read(row, fit_offsets(self.frames, int(row["num_frames"]))), seed)
        label = int(row["label"])
        target = torch.full((len(frames),), float(label))
        return {"input": frames, "target": target, "label": label, "video": int(self.videos[index]), "index": index}


class PairDataset(ClipSamples):
    """NTech's mixup of aligned pairs: ``input = (1 - λ) · real + λ · fake``, ``target = λ``, λ ~ Beta(α, α).

    ``sequence_mode`` (sequence model): one λ per clip and one set of augmentation parameters for all frames of both
    clips. Otherwise (frame models): λ and augmentation per frame, shared by ``real[i]`` and ``fake[i]``.
    ``compression`` re-encodes both clips with the same parameters before the frames are picked, timing the
    clips at ``source_fps`` (NTech's ``TrackPairDataset.FPS = 30`` for every clip, whatever its video's rate);
    ``None`` times each clip at its own fps.
    """

    def __init__(
        self,
        clips: pd.DataFrame,
        root: str | os.PathLike,
        frames: Sequence[int],
        transform: A.Compose,
        compression: VideoCompression | None = None,
        mixup_alpha: float = 0.5,
        sequence_mode: bool = True,
        seed: int = 0,
        source_fps: float | None = 30.0,
        cache_mb: float = 0.0,
    ) -> None:
        super().__init__(root, frames, transform, seed, cache_mb)
        self.source_fps = source_fps
        self.fakes, self.reals = aligned_pairs(clips)
        if self.fakes.empty:
            raise ValueError(f"no aligned real/fake clip pairs among {len(clips)} clips under {root}")
        self.videos = pd.factorize(self.fakes["video_id"])[0]
        self.compression = compression
        self.mixup_alpha = mixup_alpha
        self.sequence_mode = sequence_mode

    def __len__(self) -> int:
        return len(self.fakes)

    def _sample(self, index: int, seed: int) -> dict:
        rng = np.random.default_rng(seed)
        params = self.compression.sample(rng) if self.compression is not None else None
        real_row, fake_row = self.reals.iloc[index], self.fakes.iloc[index]
        indices = fit_offsets(self.frames, int(min(real_row["num_frames"], fake_row["num_frames"])))
        real, fake = (self._frames(row, indices, params) for row in (real_row, fake_row))
        if real.shape != fake.shape:
            raise ValueError(
                f"pair {fake_row['clip_id']} / {real_row['clip_id']}: frames {fake.shape} vs {real.shape} "
                "(an aligned pair must share its crop size)"
            )
        count = len(indices)
        lam = rng.beta(self.mixup_alpha, self.mixup_alpha, size=1 if self.sequence_mode else count)
        aug_seed = int(rng.integers(2**31))
        if self.sequence_mode:
            both = self._augment(np.concatenate([real, fake]), aug_seed)
            real_t, fake_t = both[:count], both[count:]
        else:
            self.transform.set_random_seed(aug_seed)  # one stream: a fresh draw per frame, shared by its pair
            pairs = [self._augment(np.stack([r, f])) for r, f in zip(real, fake, strict=True)]
            real_t, fake_t = torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])
        weight = torch.from_numpy(np.broadcast_to(lam, (count,)).astype(np.float32))
        mixed = (1 - weight.view(-1, 1, 1, 1)) * real_t + weight.view(-1, 1, 1, 1) * fake_t
        return {"input": mixed, "target": weight.clone(), "label": 1, "video": int(self.videos[index]), "index": index}

    def _frames(self, row: pd.Series, indices: np.ndarray, params: CompressionParams | None) -> np.ndarray:
        if params is None:
            return self._read(row, indices)
        read = lambda clip_indices: self._read(row, clip_indices)  # noqa: E731
        fps = self.source_fps or float(row["fps"])
        return self.compression.frames(read, int(row["num_frames"]), indices, params, fps)
