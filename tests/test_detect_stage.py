"""The detect stage: one artifact per video, faceless videos are results, broken files are report lines, shards split
the work, reruns resume, and a killed run leaves no partial files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import skimage.data

from src.faces.detectors.base import VideoDetections
from src.preprocess.detect import detect_stage, detect_video
from src.preprocess.runner import StageContext
from src.utils.io import TMP_PREFIX
from src.video.io import write_video
from src.video.prefetch import prefetched
from src.video.sampling import EveryNth
from src.video.sources import FolderSource
from tests.helpers import REPO_ROOT, default_detector, synthetic_frames


def face_clip(num_frames: int, size: int = 192, seed: int = 0) -> np.ndarray:
    """The astronaut's face (a real photograph shipped with scikit-image) drifting slowly across the frame."""
    import cv2

    face = cv2.resize(skimage.data.astronaut(), (size, size), interpolation=cv2.INTER_AREA)
    shifts = np.random.default_rng(seed).integers(-3, 4, size=(num_frames, 2)).cumsum(axis=0)
    return np.stack([np.roll(face, tuple(shift), axis=(0, 1)) for shift in shifts])


@pytest.fixture(scope="module")
def detector():
    return default_detector()


@pytest.fixture
def videos(tmp_path) -> Path:
    root = tmp_path / "videos"
    root.mkdir()
    write_video(root / "face.mp4", face_clip(13), fps=25)
    write_video(root / "nobody.mp4", synthetic_frames(13, 96, 128), fps=25)
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    return root


def context(videos: Path, work: Path, **options) -> StageContext:
    return StageContext(FolderSource(videos).records(), work, progress=False, **options)


def test_stage_writes_one_artifact_per_video_and_reports_broken_files(videos, tmp_path, detector):
    work = tmp_path / "work"
    report = detect_stage(context(videos, work), detector, EveryNth(6))
    assert (report.done, report.failed) == (2, 1)
    assert "broken.mp4" in report.failures["broken.mp4"] and "\n" not in report.failures["broken.mp4"]
    lines = (work / "reports" / "detect-shard0of1.jsonl").read_text().splitlines()
    assert [json.loads(line)["video_id"] for line in lines] == ["broken.mp4"]

    face = VideoDetections.load(work / "detections" / "face.mp4.npz")
    assert face.frame_indices.tolist() == [0, 6, 12] and face.counts.tolist() == [1, 1, 1]
    assert face.meta["detector"]["name"] == "mtcnn" and face.meta["video"]["video_id"] == "face.mp4"
    assert face.meta["info"]["num_frames"] == 13 and face.meta["sampling"]["step"] == 6
    nobody = VideoDetections.load(work / "detections" / "nobody.mp4.npz")  # no face is a result, not a failure
    assert nobody.counts.tolist() == [0, 0, 0] and nobody.frames[0].boxes.shape == (0, 4)

    again = detect_stage(context(videos, work), detector, EveryNth(6))
    assert (again.done, again.skipped, again.failed) == (0, 2, 1)  # finished videos skipped, the broken one retried


def test_shards_split_the_videos(videos, tmp_path, detector):
    (videos / "broken.mp4").unlink()
    write_video(videos / "face2.mp4", face_clip(7, seed=1), fps=25)
    work = tmp_path / "work"
    reports = [detect_stage(context(videos, work, shard=i, num_shards=2), detector, EveryNth(6)) for i in range(2)]
    assert [r.done for r in reports] == [2, 1]
    assert sorted(p.name for p in (work / "detections").iterdir()) == [
        "face.mp4.npz",
        "face2.mp4.npz",
        "nobody.mp4.npz",
    ]


def test_detect_video_uses_the_probe_result_and_matches_without_prefetch(videos, detector):
    with_prefetch = detect_video(videos / "face.mp4", detector, EveryNth(2), chunk_size=2, prefetch=True)
    without = detect_video(videos / "face.mp4", detector, EveryNth(2), chunk_size=5, prefetch=False)
    assert with_prefetch.frame_indices.tolist() == without.frame_indices.tolist() == list(range(0, 13, 2))
    for a, b in zip(with_prefetch.frames, without.frames, strict=True):
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)


def test_prefetch_keeps_order_surfaces_errors_and_stops_its_thread():
    assert list(prefetched(range(50), depth=2)) == list(range(50))

    def failing():
        yield 1
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        list(prefetched(failing()))

    closed = threading.Event()

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    stream = prefetched(endless())
    assert next(stream) == 0
    stream.close()  # the consumer stops early: the producer closes its iterator and ends
    assert closed.is_set()
    assert not [t for t in threading.enumerate() if t.name == "prefetch"]


@pytest.mark.slow
def test_killed_run_resumes_without_redoing_or_leaving_partial_files(tmp_path):
    root = tmp_path / "videos"
    root.mkdir()
    names = [f"clip{i}.mp4" for i in range(4)]
    for seed, name in enumerate(names):
        write_video(root / name, face_clip(10, seed=seed), fps=25)
    work = tmp_path / "work"
    command = [
        sys.executable,
        str(REPO_ROOT / "preprocess.py"),
        "data=folder",
        f"data.root={root}",
        f"paths.work_dir={work}",
        f"hydra.run.dir={tmp_path / 'hydra'}",
        "sampling=all_frames",
        "detector.device=cpu",
        "progress=false",
    ]
    detections = work / "folder" / "detections"

    def finished() -> dict[str, int]:  # pathlib's glob also matches the hidden temporaries
        return {p.name: p.stat().st_ino for p in detections.glob("*.npz") if not p.name.startswith(TMP_PREFIX)}

    first = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not finished() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    before = finished()
    assert 1 <= len(before) < len(names), f"kill landed after {len(before)} of {len(names)} videos"

    second = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    done = len(before)
    assert f"detect: {len(names)} items, {len(names) - done} processed, {done} already done" in second.stdout
    after = finished()
    assert sorted(after) == sorted(f"{name}.npz" for name in names)
    assert all(after[name] == inode for name, inode in before.items())  # finished videos were not redone
    assert not [p for p in work.rglob(f"{TMP_PREFIX}*")]
    for name in names:
        assert VideoDetections.load(detections / f"{name}.npz").counts.tolist() == [1] * 10
