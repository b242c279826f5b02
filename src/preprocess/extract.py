"""Cut face clips: decode the needed frames of a video once (sorted, one sequential pass) and write one H.264 clip
per plan, at the source frame rate and the plan's fixed crop size.

The default encoder settings were chosen with ``bench/storage.py`` (see ``docs/benchmarks.md``): near-lossless
(training re-encodes clips for its compression augmentation), a short GOP so decord seeks to any frame fast, and
yuv444p because chroma subsampling alone costs more than the quantiser does.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from src.preprocess.align import crop
from src.preprocess.clips import ClipPlan
from src.preprocess.video import Backend, VideoInfo, VideoWriter, open_video


@dataclass
class ClipEncoder:
    """libx264 settings of the face clips."""

    crf: int = 12
    pix_fmt: str = "yuv444p"
    preset: str = "medium"
    keyint: int = 16
    tune: str | None = None

    def writer(self, path: str | os.PathLike, fps: float) -> VideoWriter:
        return VideoWriter(
            path, fps, crf=self.crf, pix_fmt=self.pix_fmt, preset=self.preset, tune=self.tune, keyint=self.keyint
        )

    @property
    def config(self) -> dict[str, Any]:
        return asdict(self)


def cut_clips(
    video: str | os.PathLike,
    info: VideoInfo,
    plans: list[ClipPlan],
    out_dir: str | os.PathLike,
    encoder: ClipEncoder,
    backend: Backend = "pyav",
    chunk_size: int = 16,
) -> dict[str, Path]:
    """Write ``<out_dir>/<plan.name>.mp4`` for every plan; returns name -> path.

    Each file appears only once complete (atomic rename); an error aborts the clips still open.
    """
    out_dir = Path(out_dir)
    if not plans:
        return {}
    for plan in plans:
        x1, y1, x2, y2 = plan.crop_boxes[0].tolist()
        if x1 < 0 or y1 < 0 or x2 > info.width or y2 > info.height:
            raise ValueError(f"{video}: clip {plan.name} crop box {plan.crop_boxes[0]} lies outside the frame")
        if plan.source_frames[-1] >= info.num_frames:
            raise ValueError(f"{video}: clip {plan.name} needs frame {plan.source_frames[-1]} of {info.num_frames}")
    paths = {plan.name: out_dir / f"{plan.name}.mp4" for plan in plans}
    wanted = np.unique(np.concatenate([plan.source_frames for plan in plans]))
    with contextlib.ExitStack() as stack:
        writers = [stack.enter_context(encoder.writer(paths[plan.name], info.fps)) for plan in plans]
        reader = stack.enter_context(open_video(video, backend, info))
        for indices, frames in reader.iter_chunks(chunk_size, wanted):
            for plan, writer in zip(plans, writers, strict=True):
                slot = np.minimum(np.searchsorted(plan.source_frames, indices), len(plan.source_frames) - 1)
                for j in np.flatnonzero(plan.source_frames[slot] == indices):
                    writer.write(np.ascontiguousarray(crop(frames[j], plan.crop_boxes[slot[j]])))
    return paths
