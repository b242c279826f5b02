"""Are face clips bit-reproducible? Encode the same crops several times with the extract stage's encoder settings,
with libx264's default threading and with ``threads=1``; count distinct outputs and time each encode.

python bench/clip_determinism.py [video=PATH] [frames=40] [repeats=4]
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DFDC_1080P, machine, markdown_table
from src.preprocess.extract import ClipEncoder
from src.utils.cli import parse_args, setting
from src.video.io import open_video


def encode(crops: np.ndarray, path: Path, threads: str | None) -> float:
    writer = ClipEncoder().writer(path, 30)
    if threads:
        writer.options["threads"] = threads
    start = time.perf_counter()
    with writer:
        writer.write(crops)
    return time.perf_counter() - start


@dataclass
class ClipDeterminismSettings:
    video: Path = setting(DFDC_1080P, "the video whose frames are cropped and encoded")
    frames: int = setting(40, "frames per clip, from the start of the video")
    repeats: int = setting(4, "encodes per threading setting")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(ClipDeterminismSettings, argv, "python bench/clip_determinism.py", __doc__)
    with open_video(args.video, "pyav") as reader:
        crops = np.ascontiguousarray(reader.read(np.arange(args.frames))[:, 200:500, 800:1100])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for threads in (None, "1"):
            digests, seconds = set(), []
            for k in range(args.repeats):
                path = Path(tmp) / f"clip{k}.mp4"
                seconds.append(encode(crops, path, threads))
                digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
            label = "libx264 default threads" if threads is None else f"threads={threads}"
            rows.append([label, args.repeats, len(digests), f"{np.median(seconds):.2f}"])
    print(f"{args.video.name}: {args.frames} frames, 300x300 crop, {machine()}")
    print(markdown_table(["encoder", "encodes", "distinct files", "median s per clip"], rows))


if __name__ == "__main__":
    main()
