"""A small synthetic clip dataset in the preprocessing's output format (docs/artifacts.md: clips + sidecars +
``index.parquet``), for smoke-testing training without data:
``python -m src.datamodules.synthetic work_dir=work/synthetic [originals=8 fakes=2 size=[72,64]]``.

Each "original" video gets one face clip (a textured ellipse moving over a moving background) and each of its
fakes the same frames with the face region altered (colour shift and blur), cut with the same crop boxes and
source frames: the pixel-aligned pairs NTech's mixup trains on. Whole originals (with their fakes) go to ``val``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from src.utils.cli import parse_args, setting
from src.utils.io import atomic_path, write_json
from src.video.io import write_video

INDEX_SCHEMA_VERSION = 1
SCHEMA_KEY = b"dfdetect_index_schema_version"
ENCODER = {"crf": 12, "pix_fmt": "yuv444p", "preset": "fast", "keyint": 16}


def _real_frames(num_frames: int, height: int, width: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Frames and a per-frame face mask (bool) of one synthetic talking head."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, 4)
    skin = rng.uniform(120, 220, 3)
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    masks = np.empty((num_frames, height, width), bool)
    for t in range(num_frames):
        background = 110 + 50 * np.sin(xx / 6 + t / 4 + phase[0]) * np.cos(yy / 9 - t / 6 + phase[1])
        cy = height / 2 + height / 12 * np.sin(t / 8 + phase[2])
        cx = width / 2 + width / 12 * np.cos(t / 9 + phase[3])
        mask = ((yy - cy) / (0.35 * height)) ** 2 + ((xx - cx) / (0.28 * width)) ** 2 <= 1
        texture = 18 * np.sin(xx / 3 + yy / 4 + t / 5)
        image = np.repeat(background[..., None], 3, axis=2)
        image[mask] = skin + texture[mask, None]
        frames[t] = np.clip(image, 0, 255).astype(np.uint8)
        masks[t] = mask
    return frames, masks


def _fake_frames(real: np.ndarray, masks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    shift = rng.uniform(-40, 40, 3)
    fake = real.astype(np.float32)
    for t in range(len(real)):
        altered = cv2.GaussianBlur(fake[t], (5, 5), 1.5) + shift
        fake[t][masks[t]] = altered[masks[t]]
    return np.clip(fake, 0, 255).astype(np.uint8)


def write_synthetic_dataset(
    work_dir: str | os.PathLike,
    num_originals: int = 4,
    fakes_per_original: int = 1,
    val_originals: int = 1,
    num_frames: int = 50,
    size: tuple[int, int] = (72, 64),
    fps: float = 30.0,
    seed: int = 0,
) -> Path:
    """Write clips, sidecars and ``index.parquet`` under ``work_dir``; returns the index path."""
    work_dir = Path(work_dir)
    rng = np.random.default_rng(seed)
    height, width = size
    rows = []
    for k in range(num_originals):
        split = "val" if k >= num_originals - val_originals else "train"
        real_id = f"synthetic/real_{k:03d}.mp4"
        real, masks = _real_frames(num_frames, height, width, rng)
        videos = [(real_id, 0, "", real)]
        videos += [
            (f"synthetic/fake_{k:03d}_{j}.mp4", 1, real_id, _fake_frames(real, masks, rng))
            for j in range(fakes_per_original)
        ]
        for video_id, label, original, frames in videos:
            rows.append(_write_clip(work_dir, video_id, label, original, frames, fps, split))
    for row in rows:
        if row["label"] == 1:
            row["pair_clip_id"] = f"{row['original']}/0_0"
            row["pair_iou"], row["pair_aligned"] = 1.0, True
    index_path = work_dir / "index.parquet"
    table = pa.Table.from_pandas(pd.DataFrame(rows), preserve_index=False)
    metadata = (table.schema.metadata or {}) | {SCHEMA_KEY: str(INDEX_SCHEMA_VERSION).encode()}
    with atomic_path(index_path) as tmp:
        pq.write_table(table.replace_schema_metadata(metadata), tmp)
    return index_path


def _write_clip(
    work_dir: Path, video_id: str, label: int, original: str, frames: np.ndarray, fps: float, split: str
) -> dict:
    num_frames, height, width = frames.shape[:3]
    clip_path = f"clips/{video_id}/0_0.mp4"
    write_video(work_dir / clip_path, frames, fps, **ENCODER)
    box = [0, 0, width, height]
    write_json(
        (work_dir / clip_path).with_suffix(".json"),
        {
            "schema_version": 1,
            "video_id": video_id,
            "track_id": 0,
            "source_frames": list(range(num_frames)),
            "crop_boxes": [box] * num_frames,
            "size": [height, width],
            "fps": fps,
            "encoder": ENCODER,
            "paired_with": f"{original}/0_0" if original else "",
        },
    )
    return {
        "clip_id": f"{video_id}/0_0",
        "video_id": video_id,
        "dataset": "synthetic",
        "part": "synthetic",
        "method": "synthetic" if label else "",
        "compression": "",
        "label": label,
        "original": original,
        "track_id": 0,
        "clip_path": clip_path,
        "num_frames": num_frames,
        "height": height,
        "width": width,
        "fps": fps,
        "start_frame": 0,
        "end_frame": num_frames - 1,
        "num_detections": num_frames // 6,
        "split": split,
        "group": original or video_id,
        "pair_clip_id": "",
        "pair_iou": float("nan"),
        "pair_aligned": False,
        "tracker": "synthetic",
    }


@dataclass
class SyntheticSettings:
    work_dir: Path = setting(help="where index.parquet and clips/ go")
    originals: int = setting(8, "original videos (each one clip)")
    fakes: int = setting(2, "fakes per original")
    size: list[int] = setting([72, 64], "clip frame size [height,width]")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(SyntheticSettings, argv, "python -m src.datamodules.synthetic", __doc__.split("\n\n")[0])
    if len(args.size) != 2:
        raise SystemExit(f"python -m src.datamodules.synthetic: size=[height,width], got {args.size}")
    print(write_synthetic_dataset(args.work_dir, args.originals, args.fakes, size=tuple(args.size)))


if __name__ == "__main__":
    main()
