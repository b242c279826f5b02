"""Face-tube clips from ../shared/realvideos for the RobustForensics tests, in the index.parquet layout.

Stand-in until the preprocessing index (tracker=tubes) is available in tests: each tube is a constant central
square of a real FF++ c40 video (the face of these talking-head videos lies inside it), scaled to a tiny size and
written as an H.264 clip, exactly the shape of a tube clip.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from src.preprocess.index import write_index
from src.video.io import open_video, write_video
from tests.conftest import require_realvideos

# (video, label, part): two real videos and one deepfake of each, from distinct "parts" for split tests.
TUBE_SOURCES = [
    ("ffpp/original_sequences/youtube/c40/videos/183.mp4", 0, "p0"),
    ("ffpp/manipulated_sequences/Deepfakes/c40/videos/183_253.mp4", 1, "p0"),
    ("ffpp/original_sequences/youtube/c40/videos/253.mp4", 0, "p1"),
    ("ffpp/manipulated_sequences/Deepfakes/c40/videos/253_183.mp4", 1, "p1"),
]


_WRITTEN: dict[str, tuple[Path, pd.DataFrame]] = {}


def shared_tube_clips(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """:func:`write_tube_clips` once per test session (several test modules use the same clips)."""
    if "tubes" not in _WRITTEN:
        root = tmp_path_factory.mktemp("rf_tubes")
        _WRITTEN["tubes"] = root, write_tube_clips(root)
    root, index = _WRITTEN["tubes"]
    return root, index.copy()


def write_tube_clips(out_dir: Path, num_frames: int = 140, size: int = 64) -> pd.DataFrame:
    """Write one tube clip per source video under ``out_dir`` and its ``index.parquet``; return the index."""
    realvideos = require_realvideos()
    rows = []
    for video, label, part in TUBE_SOURCES:
        reader = open_video(realvideos / video, "pyav")
        frames = reader.read(range(min(num_frames, len(reader))))
        height, width = frames.shape[1:3]
        side = min(height, width) // 2
        top, left = (height - side) // 2, (width - side) // 2
        tube = np.stack(
            [
                cv2.resize(f[top : top + side, left : left + side], (size, size), interpolation=cv2.INTER_AREA)
                for f in frames
            ]
        )
        clip_path = Path("clips") / Path(video).with_suffix("") / "0.mp4"
        write_video(out_dir / clip_path, tube, fps=reader.info.fps, keyint=10)
        rows.append(
            {
                "clip_id": f"{video}/0",
                "video_id": video,
                "dataset": "ffpp",
                "part": part,
                "label": label,
                "track_id": 0,
                "clip_path": str(clip_path),
                "num_frames": len(tube),
                "height": size,
                "width": size,
                "fps": reader.info.fps,
                "start_frame": 0,
                "split": "train" if part == "p0" else "val",
                "pair_clip_id": "",
                "pair_iou": float("nan"),
                "pair_aligned": False,
            }
        )
    index = pd.DataFrame(rows)
    write_index(index, out_dir / "index.parquet")
    return index
