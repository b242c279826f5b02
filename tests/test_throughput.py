"""Throughput by design, never by timing: prediction's memory bound (chunks, crops only, a second sparse pass for
long videos), preparation in worker processes scoring exactly as in process, and the windowed compression
augmentation (the frames it reads and encodes, the same frame choice as the whole-clip re-encode)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from src.datamodules.ntech.compression import CompressionParams, VideoCompression, fps_schedule, remap_indices
from src.inference.batch import predict_videos
from src.inference.pipeline import Predictor
from src.video.sampling import FirstFrames, FpsStride
from src.video.sources import FolderSource
from tests.predict_helpers import VIDEOS, CentreBox, ensemble, rows, video_folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return video_folder(tmp_path_factory.mktemp("videos"))


def picklable_ensemble():
    """The pipeline tests' ensemble with a sampler that pickles (worker processes receive the preparer)."""
    return dataclasses.replace(ensemble(), sampling=FirstFrames(FpsStride(15, 1), max_frames=40))


def test_long_videos_hold_one_chunk_of_full_frames_and_score_as_short_ones(folder):
    path = str(folder / VIDEOS[0])
    kept = Predictor(picklable_ensemble(), CentreBox(), detect_batch=2)
    sparse = Predictor(picklable_ensemble(), CentreBox(), detect_batch=2, frame_budget_mb=0)
    whole, bounded = kept.prepare(path), sparse.prepare(path)
    assert whole.full_frames_peak == len(whole.indices) == 20  # all 20 sampled frames fit the default budget
    assert bounded.full_frames_peak == sparse.prepare.chunk == 6  # 2 detections x every 3rd frame
    assert len(bounded.crops) == len(whole.crops) > 0  # only crops leave the preparer
    assert kept.score(whole, "v").score == sparse.score(bounded, "v").score


@pytest.mark.slow  # spawns a worker process (imports torch): ~10 s on 2 busy cores
def test_worker_processes_score_as_in_process(folder, tmp_path):
    records = [r for r in FolderSource(folder).records() if r.video_id in VIDEOS[:2] or "broken" in r.video_id]
    predictor = Predictor(picklable_ensemble(), CentreBox())
    alone = predict_videos(records, predictor, tmp_path / "a.csv", tmp_path / "a", 0.5, progress=False, prefetch=0)
    pooled = predict_videos(records, predictor, tmp_path / "b.csv", tmp_path / "b", 0.5, progress=False, workers=2)
    in_process, in_workers = rows(tmp_path / "a.csv"), rows(tmp_path / "b.csv")
    assert in_process.keys() == in_workers.keys()
    for name, score in in_process.items():  # the workers' torch runs with other thread counts: float sums reorder
        assert float(in_workers[name]) == pytest.approx(float(score), abs=1e-6)
    assert alone.fallbacks == pooled.fallbacks and len(pooled.fallbacks) == 2  # the broken files, one line each
    assert all("\n" not in reason for reason in pooled.fallbacks.values())


def test_compression_reads_and_encodes_only_a_window_around_the_used_frames():
    clip = np.random.default_rng(0).integers(0, 255, (50, 32, 32, 3), np.uint8)
    used = np.arange(19, 32, 2)
    params = CompressionParams(fps=15, scale=1.0, crf=30, tune="zerolatency")  # zerolatency: bit-exact
    reads = []

    def read(indices):
        reads.append(indices)
        return clip[indices]

    windowed = VideoCompression(warmup=2, lookahead=1)
    out = windowed.frames(read, 50, used, params)
    schedule = fps_schedule(50, 30.0, 15)
    wanted = remap_indices(used, 50, len(schedule))
    first, last = wanted.min() - 2, wanted.max() + 1
    np.testing.assert_array_equal(reads[0], np.unique(schedule[first : last + 1]))  # the window's clip frames
    assert len(out) == len(used)
    whole = VideoCompression(warmup=None)(clip, params)  # NTech's way: every frame of the clip
    assert len(whole) == len(schedule) == 25  # 15 fps keeps every 2nd frame
    np.testing.assert_array_equal(schedule, np.arange(0, 50, 2))
    assert out.shape == whole[wanted].shape
