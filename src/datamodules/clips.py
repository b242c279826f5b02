"""The base of the recipes' clip datasets: sample keys and seeds, clip reading, augmentation, unreadable clips.

A key is a sample number, or ``(number, seed)`` from a resumable sampler (:mod:`src.datamodules.samplers`): all
randomness of a sample comes from that seed, not from worker state, so a resumed run sees exactly the samples an
uninterrupted one would. A clip that cannot be read is reported once (one line naming the file and the cause) and
replaced by the next readable sample, so a long run goes on.

``cache_mb`` > 0 keeps whole decoded clips in memory (per process: each data-loader worker holds its own) up to that
many megabytes, first come first kept: a small dataset (the demo's 72 clips are ~270 MB) is decoded once instead of
twice per sample; a large one caches what fits and reads the rest from disk as before.
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

from src.video.io import VideoInfo, VideoReadError, open_video

log = logging.getLogger(__name__)

SampleKey = int | tuple[int, int]


class ClipSamples(Dataset):
    """Samples read from the face clips of an index, the base of every recipe's dataset.

    Subclasses give ``__len__`` and ``_sample(index, seed)``; this class turns a sampler's key into ``(index,
    seed)``, reads clip frames (:meth:`_read`), augments them (:meth:`_augment`) and replaces a sample whose clip
    cannot be read by the next readable one, reporting each bad file once.
    """

    def __init__(
        self, root: str | os.PathLike, frames: Sequence[int], transform: A.Compose, seed: int, cache_mb: float = 0.0
    ) -> None:
        if cache_mb < 0:
            raise ValueError(f"cache_mb must be >= 0, got {cache_mb}")
        self.root = Path(root)
        self.frames = list(frames)
        self.transform = transform
        self.seed = seed
        self.cache_bytes = int(cache_mb * 2**20)
        self._cache: dict[Path, np.ndarray] = {}
        self._cached_bytes = 0
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
        if (frames := self._cache.get(path)) is not None:
            return frames[indices]
        clip_bytes = info.num_frames * info.height * info.width * 3
        with open_video(path, "decord", info=info) as reader:
            if self._cached_bytes + clip_bytes > self.cache_bytes:
                return reader.read(indices)
            frames = reader.read(np.arange(info.num_frames))
        self._cache[path] = frames
        self._cached_bytes += clip_bytes
        return frames[indices]

    def _augment(self, images: np.ndarray, seed: int | None = None) -> torch.Tensor:
        """One albumentations call (shared parameters) on (N, H, W, 3) → float tensor (N, 3, H, W); ``seed``
        restarts the pipeline's random streams, ``None`` continues them."""
        if seed is not None:
            self.transform.set_random_seed(seed)
        out = self.transform(images=np.ascontiguousarray(images))["images"]
        return torch.from_numpy(np.ascontiguousarray(out.transpose(0, 3, 1, 2)))
