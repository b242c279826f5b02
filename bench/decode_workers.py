"""Decoding in parallel worker processes, as prediction's preparing workers decode: FFmpeg's frame threads or one
thread per process, and the frames copied into chunk arrays or handed over as decoded.

python bench/decode_workers.py [workers=2] [repeats=2] [videos=12]

Each process decodes every 2nd frame (NTech's 15-fps sampling of a 30-fps video) of one DFDC video of
../shared/realvideos at a time, to RGB, in 48-frame chunks: ``iter_chunks`` (one (48, H, W, 3) array per chunk) or
``iter_chunk_lists`` (the decoded frames as a list). Videos/s over ``videos`` videos (the DFDC ones, repeated),
after one untimed video per process; each setting ``repeats`` times, in a fresh pool.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import SHARED, machine, markdown_table
from src.utils.cli import parse_args, setting
from src.video.io import open_video, probe, set_decode_threads


def decode(path: str, threads: int, lists: bool) -> int:
    set_decode_threads(threads)
    info = probe(path)
    with open_video(path, "pyav", info) as reader:
        chunks = reader.iter_chunk_lists if lists else reader.iter_chunks
        return sum(len(i) for i, _ in chunks(48, range(0, info.num_frames, 2)))


@dataclass
class DecodeWorkersBenchSettings:
    workers: int = setting(2, "decoding processes")
    repeats: int = setting(2, "runs per setting")
    videos: int = setting(12, "videos per run (the DFDC videos, repeated)")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(DecodeWorkersBenchSettings, argv, "python bench/decode_workers.py", __doc__)
    sources = sorted((SHARED / "realvideos" / "dfdc").glob("*.mp4"))
    if not sources:
        raise SystemExit(f"{SHARED / 'realvideos' / 'dfdc'}: no benchmark videos")
    videos = [str(sources[i % len(sources)]) for i in range(args.videos)]
    spawn = multiprocessing.get_context("spawn")
    rows = []
    for repeat in range(args.repeats):
        for threads, lists in ((0, False), (1, False), (0, True), (1, True)):
            with ProcessPoolExecutor(args.workers, mp_context=spawn) as pool:
                list(pool.map(decode, videos[: args.workers], [threads] * args.workers, [lists] * args.workers))
                start = time.perf_counter()
                list(pool.map(decode, videos, [threads] * len(videos), [lists] * len(videos)))
                rate = len(videos) / (time.perf_counter() - start)
            frames = "list per chunk (iter_chunk_lists)" if lists else "copied into a chunk array (iter_chunks)"
            rows.append([repeat + 1, "FFmpeg's choice" if threads == 0 else "1", frames, f"{rate:.3f}"])
            print(markdown_table(HEADER, rows[-1:]), flush=True)
    print(f"\n{args.workers} processes, {len(videos)} videos; {machine()}")
    print(markdown_table(HEADER, rows))


HEADER = ["run", "decoder threads per process", "frames", "videos/s"]


if __name__ == "__main__":
    main()
