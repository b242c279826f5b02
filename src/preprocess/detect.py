"""The ``detect`` stage: sampled frames of every video -> faces, one ``detections/<video_id>.npz`` per video.

Each video is decoded once, sequentially (PyAV), and only at the sampled frames; a background thread decodes the
next chunk while the detector works on the current one. A video without faces gives a valid artifact with zero
counts; an unreadable one is a failure line in ``reports/detect-shard<i>of<n>.jsonl`` and the run goes on.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from src.preprocess.datasets import VideoRecord
from src.preprocess.detectors.base import FaceDetector, FrameDetections, VideoDetections
from src.preprocess.pipeline import StageContext
from src.preprocess.runner import StageReport
from src.preprocess.sampling import FrameSampler
from src.preprocess.video import VideoInfo, open_video, probe
from src.utils.io import read_json

T = TypeVar("T")


def detect_stage(
    ctx: StageContext, detector: FaceDetector, sampler: FrameSampler, chunk_size: int = 32, prefetch: bool = True
) -> StageReport:
    """Run ``detector`` on the frames ``sampler`` picks in every video of this shard (see the module docstring)."""

    def output(record: VideoRecord) -> Path:
        return ctx.artifact("detections", record, ".npz")

    def process(record: VideoRecord) -> None:
        detections = detect_video(record.path, detector, sampler, chunk_size, prefetch, info=_probed(ctx, record))
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


def _probed(ctx: StageContext, record: VideoRecord) -> VideoInfo | None:
    """The probe stage's result for ``record`` if it ran, so the file is not scanned twice."""
    path = ctx.artifact("probe", record, ".json")
    if not path.is_file():
        return None
    fields = read_json(path)["info"]
    fields.pop("duration", None)
    return VideoInfo(**fields)


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


def prefetched(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """Iterate ``items`` in a background thread, ``depth`` items ahead; its exceptions surface here.

    Stopping early (an exception in the consumer, ``close()``) stops and joins the producer, which closes its
    iterator in its own thread (a video container must be closed by the thread that uses it).
    """
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not put(item):
                    break
        except BaseException as exc:
            put(_Failure(exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
            put(done)

    thread = threading.Thread(target=produce, name="prefetch", daemon=True)
    thread.start()
    try:
        while (item := buffer.get()) is not done:
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()
        thread.join()
