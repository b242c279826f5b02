"""The ``detect`` stage: sampled frames of every video -> faces, one ``detections/<video_id>.npz`` per video.

Each video is decoded once, sequentially (PyAV), and only at the sampled frames; a background thread decodes the
next chunk while the detector works on the current one. A video without faces gives a valid artifact with zero
counts; an unreadable one is a failure line in ``reports/detect-shard<i>of<n>.jsonl`` and the run goes on.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from src.faces.detectors.base import DETECTIONS_SCHEMA_VERSION, FaceDetector, FrameDetections, VideoDetections
from src.preprocess.runner import StageContext, probed_info, shaping
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

    settings = {"detector": shaping(detector.config), "sampling": sampler.config}
    made = ctx.provenance("detect", DETECTIONS_SCHEMA_VERSION, settings)

    def process(record: VideoRecord) -> None:
        detections = detect_video(record.path, detector, sampler, chunk_size, prefetch, info=probed_info(ctx, record))
        detections.meta |= {"video": record.to_dict(), "made_by": made.made_by(record)}
        detections.save(output(record))

    return ctx.run("detect", process, output, made)


def check_detector(detector: FaceDetector) -> None:
    """Run ``detector`` once on a blank frame: a value it cannot work with (``max_size=-5``) fails here, in one
    line, instead of failing every video of the run."""
    try:
        detector(np.full((1, 128, 128, 3), 127, np.uint8))
    except Exception as exc:
        raise ValueError(f"detector {detector.name} {shaping(detector.config)}: fails on a test frame: {exc}") from exc


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
        chunks = reader.iter_chunk_lists(chunk_size, indices)
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
