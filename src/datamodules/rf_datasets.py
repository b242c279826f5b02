"""RobustForensics samples from face-tube clips (``tracker=tubes``: one clip per face tube, every frame).

- :class:`TubeFrames` (image models): one sample per (tube, frame) with frames 0, 30, … of each tube, as the seed's
  image lists (``<tube> 1 30 10``).
- :class:`TubeClips` (SlowFast): one sample per tube, a 128-frame window read every ``step`` frames (32×4, 16×8).

Each item is a dict: ``input`` (float tensor, (3, H, W) or (3, T, H, W)), ``label`` (1 FAKE, 0 REAL), ``video_id``
and its number ``video`` within the dataset (the grouping key of the video-level validation metric), and ``index``
(the sample number).

A clip that cannot be decoded is reported once (one line naming the file and the cause) and replaced by the next
readable sample, so a long run goes on; the seed replaced it with noise.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import albumentations as A
import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from src.datamodules.rf_frames import strided_frames, temporal_center_crop, temporal_random_crop
from src.preprocess.video import VideoInfo, VideoReadError, open_video

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("clip_path", "video_id", "label", "num_frames", "height", "width", "fps")


class _TubeDataset(Dataset):
    def __init__(self, clips: pd.DataFrame, root: str | os.PathLike, transform: A.Compose, bgr: bool = False) -> None:
        missing = [c for c in REQUIRED_COLUMNS if c not in clips.columns]
        if missing:
            raise ValueError(f"clip index lacks columns {missing} (see docs/artifacts.md, index.parquet)")
        if (clips["label"] < 0).any():
            raise ValueError(f"{int((clips['label'] < 0).sum())} clips have no label (-1): cannot train or validate")
        self.clips = clips.reset_index(drop=True)
        self.video_numbers = pd.factorize(self.clips["video_id"])[0]
        self.root = Path(root)
        self.transform = transform
        self.bgr = bgr  # Xception was trained on BGR input
        self.rng = np.random.default_rng(0)
        self._seeded_with: tuple[int, int] | None = None
        self._reported: set[str] = set()

    def _seed_randomness(self) -> None:
        # albumentations draws from its own generator, which forked DataLoader workers would share: reseed it (and
        # ours) from torch's per-worker seed (base seed + worker id; reproducible under seed_everything).
        key = (os.getpid(), torch.initial_seed())
        if self._seeded_with != key:
            seed = torch.initial_seed() % 2**32
            self.transform.set_random_seed(seed)
            self.rng = np.random.default_rng(seed + 1)
            self._seeded_with = key

    def _read(self, clip: int, frames: np.ndarray) -> np.ndarray:
        """Frames (any order, repeats allowed) of clip number ``clip``, RGB (or BGR) uint8 (N, H, W, 3)."""
        row = self.clips.iloc[clip]
        path = self.root / row["clip_path"]
        info = VideoInfo(str(path), int(row["num_frames"]), float(row["fps"]), int(row["width"]), int(row["height"]),
                         0, "h264", "")  # fmt: skip
        unique, inverse = np.unique(frames, return_inverse=True)
        with open_video(path, "decord", info=info) as reader:
            out = reader.read(unique)[inverse]
        return out[..., ::-1] if self.bgr else out

    def _sample(self, index: int) -> dict:
        raise NotImplementedError

    def __getitem__(self, index: int) -> dict:
        self._seed_randomness()
        for attempt in range(len(self)):
            current = (index + attempt) % len(self)
            try:
                return self._sample(current)
            except VideoReadError as err:
                if err.path not in self._reported:
                    self._reported.add(err.path)
                    log.error("%s (sample %d replaced by the next readable one)", err, current)
        raise RuntimeError(f"no readable clip among the {len(self)} samples under {self.root}")

    def _item(self, clip: int, index: int, tensor: torch.Tensor) -> dict:
        row = self.clips.iloc[clip]
        return {
            "input": tensor,
            "label": int(row["label"]),
            "video_id": str(row["video_id"]),
            "video": int(self.video_numbers[clip]),
            "index": index,
        }


class TubeFrames(_TubeDataset):
    """Image-model samples: every ``frame_stride``-th frame of every tube (seed: 1, 31, …, 271)."""

    def __init__(
        self,
        clips: pd.DataFrame,
        root: str | os.PathLike,
        transform: A.Compose,
        frame_stride: int = 30,
        bgr: bool = False,
    ) -> None:
        super().__init__(clips, root, transform, bgr)
        per_clip = [strided_frames(int(n), frame_stride) for n in self.clips["num_frames"]]
        self.sample_clip = np.repeat(np.arange(len(per_clip)), [len(f) for f in per_clip])
        self.sample_frame = np.concatenate(per_clip) if per_clip else np.empty(0, np.int64)

    def __len__(self) -> int:
        return len(self.sample_clip)

    def _sample(self, index: int) -> dict:
        clip, frame = int(self.sample_clip[index]), int(self.sample_frame[index])
        image = self.transform(image=np.ascontiguousarray(self._read(clip, np.array([frame]))[0]))["image"]
        return self._item(clip, index, torch.from_numpy(image).permute(2, 0, 1))


class TubeClips(_TubeDataset):
    """SlowFast samples: one ``size``-frame window per tube, every ``step``-th frame (random for training)."""

    def __init__(
        self,
        clips: pd.DataFrame,
        root: str | os.PathLike,
        transform: A.Compose,
        size: int = 128,
        step: int = 4,
        random_crop: bool = True,
        bgr: bool = False,
    ) -> None:
        super().__init__(clips, root, transform, bgr)
        self.size, self.step, self.random_crop = size, step, random_crop

    def __len__(self) -> int:
        return len(self.clips)

    def _frames(self, num_frames: int) -> np.ndarray:
        if self.random_crop:
            return temporal_random_crop(num_frames, self.rng, self.size, self.step)
        return temporal_center_crop(num_frames, self.size, self.step)

    def _sample(self, index: int) -> dict:
        frames = self._frames(int(self.clips["num_frames"].iloc[index]))
        clip = self.transform(images=np.ascontiguousarray(self._read(index, frames)))["images"]
        return self._item(index, index, torch.from_numpy(clip).permute(3, 0, 1, 2))  # (T,H,W,C) → (C,T,H,W)
