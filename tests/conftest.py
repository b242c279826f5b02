"""Shared fixtures (the helpers they are built on are in tests/helpers.py). Real research videos are read from
../shared/realvideos and never copied into the repo."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"  # never a download in tests, whatever the shell says
os.environ["WANDB_MODE"] = "offline"
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import numpy as np

from src.faces.detectors.base import FrameDetections, VideoDetections
from src.preprocess.runner import StageContext
from src.video.io import write_video
from src.video.sources import FolderSource
from tests.helpers import (
    HEIGHT,
    MANIFEST,
    NUM_FRAMES,
    REALVIDEOS,
    STEP,
    WIDTH,
    default_detector,
    face_boxes,
    require_realvideos,
    seed_pairing,
    synthetic_frames,
    write_tube_clips,
)


@pytest.fixture(scope="session")
def realvideos() -> Path:
    return require_realvideos()


@pytest.fixture(scope="session")
def manifest() -> list[dict[str, str]]:
    require_realvideos()
    return MANIFEST


# Detection cadence for tests on the real videos: NTech's every 6th frame, first 20 samples (4 s of video).
REALVIDEOS_SAMPLING = {"step": 6, "max_count": 20}


@pytest.fixture(scope="session")
def realvideos_detections(tmp_path_factory) -> Path:
    """Work dir with ``probe/`` and ``detections/`` of every real video (data=realvideos, detector=mtcnn default,
    every 6th frame, first 20 samples): the detect stage run once per session, shared by the detector acceptance
    tests and the tracking tests."""
    from src.preprocess.detect import detect_stage
    from src.preprocess.probe import probe_stage
    from src.preprocess.runner import StageContext
    from src.video.sampling import EveryNth
    from src.video.sources import FolderSource

    require_realvideos()
    work = tmp_path_factory.mktemp("realvideos_detections") / "realvideos"
    ctx = StageContext(FolderSource(REALVIDEOS, "labels.csv").records(), work, progress=False)
    probe_stage(ctx)
    report = detect_stage(ctx, default_detector(), EveryNth(**REALVIDEOS_SAMPLING))
    assert report.failed == 0, report.failures
    return work


def _preprocessed(request, tmp_path_factory, name: str, tracker) -> Path:
    """Run track → extract → index on the real videos' detections (fixture ``realvideos_detections``)."""
    from src.preprocess.extract import ClipEncoder, extract_stage
    from src.preprocess.index import index_stage
    from src.preprocess.probe import probe_stage
    from src.preprocess.runner import StageContext
    from src.preprocess.track import track_stage
    from src.video.sources import FolderSource

    detections = Path(request.getfixturevalue("realvideos_detections"))
    work = tmp_path_factory.mktemp(name) / "realvideos"
    shutil.copytree(detections / "detections", work / "detections")
    for folder in ("probe", "reports"):
        if (detections / folder).is_dir():
            shutil.copytree(detections / folder, work / folder)
    ctx = StageContext(FolderSource(REALVIDEOS, "labels.csv").records(), work, progress=False)
    probe_stage(ctx)
    track_stage(ctx, tracker)
    extract_stage(ctx, seed_pairing(tracker), ClipEncoder())
    index_stage(ctx)
    return work


@pytest.fixture(scope="session")
def realvideos_work(request, tmp_path_factory) -> Path:
    """Work dir of the real videos after every preprocessing stage with ``tracker=ntech`` (faithful: one 50-frame
    clip per track, fakes pixel-aligned with their originals): ``index.parquet``, ``clips/``, ``tracks/``.

    ``DFDETECT_REALVIDEOS_WORK=<work>/realvideos`` uses a finished full run instead (figures on whole videos)."""
    from src.faces.tracking.trackers import NtechTracker

    require_realvideos()
    if os.environ.get("DFDETECT_REALVIDEOS_WORK"):  # a full run: preprocess.py data=realvideos tracker=ntech
        return Path(os.environ["DFDETECT_REALVIDEOS_WORK"])
    return _preprocessed(request, tmp_path_factory, "realvideos_ntech", NtechTracker())


@pytest.fixture(scope="session")
def realvideos_work_tubes(request, tmp_path_factory) -> Path:
    """Like ``realvideos_work`` with ``tracker=tubes`` (RobustForensics), clips cut short to the first 64 frames."""
    from src.faces.tracking.trackers import TubeTracker

    require_realvideos()
    return _preprocessed(request, tmp_path_factory, "realvideos_tubes", TubeTracker(max_frames=64))


@pytest.fixture(scope="module")
def synthetic_work(tmp_path_factory) -> Path:
    """Work dir of a small synthetic dataset: 4 originals (1 val) with one aligned fake each, 50-frame clips."""
    from src.datamodules.synthetic import write_synthetic_dataset

    work = tmp_path_factory.mktemp("synthetic")
    write_synthetic_dataset(work, num_originals=4, fakes_per_original=1, val_originals=1)
    return work


@pytest.fixture(scope="session")
def tube_clips(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """RobustForensics tube clips of real FF++ videos and their index (:func:`tests.helpers.write_tube_clips`),
    written once per session; copy the index before changing it."""
    root = tmp_path_factory.mktemp("rf_tubes")
    return root, write_tube_clips(root)


@pytest.fixture
def dataset(tmp_path):
    """real.mp4, fake.mp4 (made from it: same geometry), an unpaired fake and a corrupt file, plus detections."""
    root, work = tmp_path / "data", tmp_path / "work"
    frames = synthetic_frames(NUM_FRAMES, HEIGHT, WIDTH, seed=1)
    write_video(root / "real.mp4", frames, fps=25, crf=18)
    fake = frames.copy()
    fake[:, 20:68, 30:90] = 255 - fake[:, 20:68, 30:90]
    write_video(root / "fake.mp4", fake, fps=25, crf=18)
    write_video(root / "lonely.mp4", synthetic_frames(NUM_FRAMES, HEIGHT, WIDTH, seed=2), fps=25, crf=18)
    (root / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20)
    (root / "labels.csv").write_text(
        "filename,label,original\nreal.mp4,REAL,\nfake.mp4,FAKE,real.mp4\nlonely.mp4,FAKE,absent.mp4\ncorrupt.mp4,REAL,\n"
    )
    sampled = np.arange(0, NUM_FRAMES, STEP)
    for name, jitter in (("real.mp4", 0.0), ("fake.mp4", 1.5), ("lonely.mp4", 0.0)):
        boxes = face_boxes(sampled, jitter)
        dets = [FrameDetections(b[None], [0.99]) for b in boxes]
        VideoDetections(sampled, dets, {"detector": {"name": "hand-made"}}).save(work / "detections" / f"{name}.npz")
    records = FolderSource(root, "labels.csv").records()
    return StageContext(records, work, progress=False), root
