"""NTechLab's training samples from face clips (spec ntechlab_detail §3): aligned real↔fake pairs mixed up, and
single clips for validation.

Every item is a dict: ``input`` float (T, 3, H, W), ``target`` float (T,) (the per-frame soft label), ``label``
(1 FAKE, 0 REAL), ``video`` (number of the video within the dataset: the grouping key of the video-level metrics)
and ``index`` (the sample number: a distributed sampler's padding duplicates count once).

A key is a sample number, or ``(number, seed)`` from :class:`~src.datamodules.samplers.ResumableRandomSampler`:
all randomness of a sample (compression, augmentation, mixup λ) comes from that seed, not from worker state, so a
resumed run sees exactly the samples an uninterrupted one would. A clip that cannot be read is reported once (one
line naming the file and the cause) and replaced by the next readable sample, so a long run goes on.
"""

from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Sequence
from pathlib import Path

import albumentations as A
import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from src.datamodules.index import aligned_pairs
from src.datamodules.ntech.compression import CompressionParams, VideoCompression
from src.video.io import VideoInfo, VideoReadError, open_video

log = logging.getLogger(__name__)

SampleKey = int | tuple[int, int]


def fit_offsets(offsets: Sequence[int], num_frames: int) -> np.ndarray:
    """Clip frame indices for ``offsets`` (NTech: 19, 21, ..., 31 of a 50-frame clip), shifted back to fit a
    clip cut short at its video's end (repeating frames when it is shorter than the span)."""
    offsets = np.asarray(offsets, np.int64)
    shift = min(0, num_frames - 1 - int(offsets.max()))
    return np.clip(offsets + shift, 0, num_frames - 1)


class _ClipSamples(Dataset):
    def __init__(self, root: str | os.PathLike, frames: Sequence[int], transform: A.Compose, seed: int) -> None:
        self.root = Path(root)
        self.frames = list(frames)
        self.transform = transform
        self.seed = seed
        self._reported: set[str] = set()

    def __len__(self) -> int:
        raise NotImplementedError

    def _sample(self, index: int, seed: int) -> dict:
        raise NotImplementedError

    def __getitem__(self, key: SampleKey) -> dict:
        index, seed = key if isinstance(key, tuple) else (key, zlib.crc32(f"{self.seed}/{key}".encode()))
        for attempt in range(len(self)):
            current = (index + attempt) % len(self)
            try:
                return self._sample(current, seed)
            except VideoReadError as err:
                if err.path not in self._reported:
                    self._reported.add(err.path)
                    log.error("%s (sample %d replaced by the next readable one)", err, current)
        raise RuntimeError(f"no readable clip among the {len(self)} samples under {self.root}")

    def _read(self, row: pd.Series, indices: np.ndarray) -> np.ndarray:
        """Frames ``indices`` (sorted) of the clip of ``row``, RGB uint8 (N, H, W, 3); decord, one thread."""
        path = self.root / row["clip_path"]
        info = VideoInfo(str(path), int(row["num_frames"]), float(row["fps"]), int(row["width"]), int(row["height"]),
                         0, "h264", "")  # fmt: skip
        with open_video(path, "decord", info=info) as reader:
            return reader.read(indices)

    def _augment(self, images: np.ndarray, seed: int | None = None) -> torch.Tensor:
        """One albumentations call (shared parameters) on (N, H, W, 3) → float tensor (N, 3, H, W); ``seed``
        restarts the pipeline's random streams, ``None`` continues them."""
        if seed is not None:
            self.transform.set_random_seed(seed)
        out = self.transform(images=np.ascontiguousarray(images))["images"]
        return torch.from_numpy(np.ascontiguousarray(out.transpose(0, 3, 1, 2)))


class ClipDataset(_ClipSamples):
    """One clip per sample, target = its label on every frame (validation; training without pairs)."""

    def __init__(
        self,
        clips: pd.DataFrame,
        root: str | os.PathLike,
        frames: Sequence[int],
        transform: A.Compose,
        seed: int = 0,
    ) -> None:
        super().__init__(root, frames, transform, seed)
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


class PairDataset(_ClipSamples):
    """NTech's mixup of aligned pairs: ``input = (1 - λ) · real + λ · fake``, ``target = λ``, λ ~ Beta(α, α).

    ``sequence_mode`` (sequence model): one λ per clip and one set of augmentation parameters for all frames of both
    clips. Otherwise (frame models): λ and augmentation per frame, shared by ``real[i]`` and ``fake[i]``.
    ``compression`` re-encodes both clips with the same parameters before the frames are picked.
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
    ) -> None:
        super().__init__(root, frames, transform, seed)
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
        return self.compression.frames(read, int(row["num_frames"]), indices, params, float(row["fps"]))
