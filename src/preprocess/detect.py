"""The ``detect`` stage: sampled frames of every video -> faces, one ``detections/<video_id>.npz`` per video.

Each video is decoded once, sequentially (PyAV), and only at the sampled frames; a background thread decodes the
next chunk while the detector works on the current one. A video without faces gives a valid artifact with zero
counts; an unreadable one is a failure line in ``reports/detect-shard<i>of<n>.jsonl`` and the run goes on.
"""

from __future__ import annotations

import time
from pathlib import Path

from src.faces.detectors.base import FaceDetector, FrameDetections, VideoDetections
from src.preprocess.runner import StageContext, probed_info
from src.utils.runner import StageReport
from src.video.io import VideoInfo, open_video, probe
from src.video.prefetch import prefetched
from src.video.sampling import FrameSampler
from src.video.sources import VideoRecord


def detect_stage(
    ctx: StageContext, detector: FaceDetector, sampler: FrameSampler, chunk_size: int = 32, prefetch: bool = True
) -> StageReport:
    """Run ``detector`` on the frames ``sampler`` picks in every video of this shard (see the module docstring)."""

    def output(record: VideoRecord) -> Path:
        return ctx.artifact("detections", record, ".npz")

    def process(record: VideoRecord) -> None:
        detections = detect_video(record.path, detector, sampler, chunk_size, prefetch, info=probed_info(ctx, record))
        detections.meta["video"] = record.to_dict()
        detections.save(output(record))

    return ctx.run("detect", process, output)


def detect_video(
    path: str | Path,
    detector: FaceDetector,
    sampler: FrameSampler,
    chunk_size: int = 32,
    prefetch: bool = True,
    info: VideoInfo | None = None,
) -> VideoDetections:
    """Detections of one video in memory (shared by the stage and by prediction)."""
    info = info if info is not None else probe(path)
    indices = sampler(info)
    frames: list[FrameDetections] = []
    detect_seconds = 0.0
    start = time.perf_counter()
    with open_video(path, "pyav", info) as reader:
        chunks = reader.iter_chunks(chunk_size, indices)
        for _, batch in prefetched(chunks) if prefetch else chunks:
            tic = time.perf_counter()
            frames += detector(batch)
            detect_seconds += time.perf_counter() - tic
    total = time.perf_counter() - start
    timing = {
        "seconds": round(total, 3),
        "detector_seconds": round(detect_seconds, 3),
        "frames_per_second": round(len(indices) / total, 2) if total > 0 else None,
    }
    return VideoDetections(
        indices,
        frames,
        {"info": info.to_dict(), "detector": detector.config, "sampling": sampler.config, "timing": timing},
    )
