"""Decoding speed per backend on a 1080p DFDC video: full sequential pass, strided pass, sorted random reads.

python bench/video_io.py [video=PATH] [repeats=3]
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DFDC_1080P, best_of, machine, markdown_table
from src.utils.cli import parse_args, setting
from src.video.io import open_video, probe


@dataclass
class VideoIOBenchSettings:
    video: Path = setting(DFDC_1080P, "the video to decode")
    repeats: int = setting(3, "timed passes per workload; the best counts")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(VideoIOBenchSettings, argv, "python bench/video_io.py", __doc__)
    if not args.video.is_file():
        raise SystemExit(f"{args.video}: benchmark video not found (pass video=PATH)")
    info = probe(args.video)
    rng = np.random.default_rng(0)
    workloads = {
        "sequential, every frame": np.arange(info.num_frames),
        "stride 6 (NTech detection cadence)": np.arange(0, info.num_frames, 6),
        "32 sorted random frames": np.sort(rng.choice(info.num_frames, 32, replace=False)),
        "7-frame clip, step 2": np.arange(120, 134, 2),
    }
    rows = []
    for name, indices in workloads.items():
        row = [name, len(indices)]
        for backend in ("decord", "pyav"):

            def run(backend=backend, indices=indices):
                with open_video(args.video, backend, info=info) as reader:
                    for _ in reader.iter_chunks(64, indices):
                        pass

            seconds = best_of(run, args.repeats)
            row.append(f"{len(indices) / seconds:.1f}")
        rows.append(row)
    print(f"video: {args.video.name} {info.width}x{info.height} {info.num_frames} frames; machine: {machine()}")
    print(markdown_table(["workload", "frames", "decord frames/s", "PyAV frames/s"], rows))


if __name__ == "__main__":
    main()
