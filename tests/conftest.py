"""Shared fixtures. Real research videos are read from ../shared/realvideos and never copied into the repo."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"  # never a download in tests, whatever the shell says
os.environ["WANDB_MODE"] = "offline"
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DFDETECT_SHARED", REPO_ROOT.parent / "shared"))
REALVIDEOS = SHARED / "realvideos"
WEIGHTS = SHARED / "weights"
SPEC_REFERENCE = SHARED / "spec" / "reference"


def seed_pairing(tracker):
    """The pairing each seed's recipe gives the extract stage (conf/recipe/*.yaml pair_geometry) for ``tracker``."""
    from src.faces.pairs import Pairing

    return Pairing("own" if tracker.name == "tubes" else "shared")


def _manifest_rows() -> list[dict[str, str]]:
    path = REALVIDEOS / "manifest.csv"
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


MANIFEST = _manifest_rows()
REALVIDEO_IDS = [row["filename"] for row in MANIFEST] or ["<../shared/realvideos absent>"]


def require_realvideos() -> Path:
    if not MANIFEST:
        pytest.skip(f"real videos not found at {REALVIDEOS} (research data lives in ../shared, not in the repo)")
    return REALVIDEOS


@pytest.fixture(scope="session")
def realvideos() -> Path:
    return require_realvideos()


@pytest.fixture(scope="session")
def manifest() -> list[dict[str, str]]:
    require_realvideos()
    return MANIFEST


def synthetic_frames(n: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth, moving test frames (compress like natural video, unlike white noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    frames = np.empty((n, height, width, 3), np.uint8)
    phase = rng.uniform(0, 2 * np.pi, 3)
    for t in range(n):
        for c in range(3):
            wave = np.sin(xx / (7 + 3 * c) + t / 5 + phase[c]) + np.cos(yy / (9 + 2 * c) - t / 7)
            frames[t, ..., c] = np.clip(127 + 60 * wave, 0, 255).astype(np.uint8)
    return frames


def default_detector(**overrides):
    """The default detector exactly as ``conf/detector/mtcnn.yaml`` configures it (on the CPU)."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(REPO_ROOT / "conf" / "detector" / "mtcnn.yaml")
    return instantiate(OmegaConf.merge(cfg, {"device": "cpu", **overrides}))


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
