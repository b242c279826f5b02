"""Self-blended images and the embedded demo: the generator's fakes, the quick demo end to end, the two notebooks."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pandas as pd
import pytest

from src.demo.dataset import carphone_path
from src.faces.detectors.base import FrameDetections, VideoDetections
from src.sbi.__main__ import main
from src.sbi.blend import BlendParams, face_outline, self_blend
from src.sbi.video import follow_face
from src.video.io import open_video, probe, write_video
from tests.helpers import REPO_ROOT, default_detector

STRONG = BlendParams.sample(np.random.default_rng(3), strength=2.0)


@pytest.fixture(scope="module")
def carphone() -> np.ndarray:
    with open_video(carphone_path(), "pyav") as reader:
        return reader.read(range(24))


@pytest.fixture(scope="module")
def detector():
    return default_detector(min_score=0.9)


def _centroid(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask > 0.5)
    return np.array([xs.mean(), ys.mean()])


def test_sbi_fake_differs_from_source_only_inside_the_mask(carphone, detector):
    frame = carphone[0]
    found = detector(frame[None])[0]
    fake, mask = self_blend(frame, found.landmarks[0], found.boxes[0], STRONG)
    outside = mask == 0
    assert outside.mean() > 0.7  # the face is a small part of the frame
    np.testing.assert_array_equal(fake[outside], frame[outside])
    inside = mask > 0.5
    changed = np.abs(fake.astype(int) - frame.astype(int)).max(axis=-1) > 2
    assert changed[inside].mean() > 0.5  # the blended face really differs


def test_sbi_mask_follows_the_detected_landmarks(carphone, detector):
    frame = carphone[0]
    found = detector(frame[None])[0]
    landmarks, box = found.landmarks[0], found.boxes[0]
    _, mask = self_blend(frame, landmarks, box, STRONG)
    # every landmark is well inside the mask, and the mask lies around the face the detector found
    xs, ys = np.round(landmarks).astype(int).T
    assert (mask[ys, xs] > 0.5).all()
    x1, y1, x2, y2 = box
    cx, cy = _centroid(mask)
    assert x1 < cx < x2 and y1 < cy < y2
    outline = face_outline(landmarks)
    rows, cols = np.nonzero(mask > 0.5)
    margin = 0.3 * (x2 - x1)
    assert cols.min() > outline[:, 0].min() - margin and cols.max() < outline[:, 0].max() + margin
    assert rows.min() > outline[:, 1].min() - margin and rows.max() < outline[:, 1].max() + margin
    # move the face: detect again on the moved frame, and the mask moves with it
    shift = np.array([22.0, 12.0])
    moved = cv2.warpAffine(frame, np.float32([[1, 0, shift[0]], [0, 1, shift[1]]]), frame.shape[1::-1],
                           borderMode=cv2.BORDER_REFLECT)  # fmt: skip
    found_moved = detector(moved[None])[0]
    _, mask_moved = self_blend(moved, found_moved.landmarks[0], found_moved.boxes[0], STRONG)
    np.testing.assert_allclose(_centroid(mask_moved) - _centroid(mask), shift, atol=3.0)


def test_sbi_box_only_mask_is_an_ellipse_inside_the_box(carphone):
    box = np.array([60.0, 30.0, 110.0, 95.0])
    fake, mask = self_blend(carphone[0], None, box, BlendParams(edge=0.02, hue=20))
    rows, cols = np.nonzero(mask > 0.5)
    assert cols.min() >= box[0] and cols.max() <= box[2] and rows.min() >= box[1] and rows.max() <= box[3]
    np.testing.assert_allclose(_centroid(mask), [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], atol=3.0)
    np.testing.assert_array_equal(fake[mask == 0], carphone[0][mask == 0])


def _face(x: float, size: float = 40, score: float = 0.99) -> FrameDetections:
    points = np.array([[10, 20], [30, 20], [20, 30], [12, 40], [28, 40]], np.float32) * size / 40 + [x, 0]
    return FrameDetections([[x, 0, x + size, 1.25 * size]], [score], points[None])


def test_follow_face_interpolates_between_detected_frames():
    empty = FrameDetections.empty(with_landmarks=True)
    detections = VideoDetections.from_frames([0, 4, 8, 12], [_face(0), empty, _face(16), _face(20)])
    faces = follow_face(detections, num_frames=14)
    assert faces.found.all()
    np.testing.assert_allclose(faces.boxes[4], [8, 0, 48, 50])  # halfway between frames 0 and 8 (the face missed)
    np.testing.assert_allclose(faces.landmarks[4], _face(8).landmarks[0])  # the landmarks move with it
    np.testing.assert_allclose(faces.boxes[13], faces.boxes[12])  # held after the last detection
    assert not follow_face(VideoDetections.from_frames([0], [empty]), 3).found.any()


def test_follow_face_keeps_the_face_seen_most_often_then_the_larger():
    """A passer-by (seen once, large) does not take over the face seen in every frame; of two faces seen as often,
    the larger one is blended. The boxes and landmarks are the detector's own (not the tracker's rounded ones)."""

    def two(x_small: float, big: bool) -> FrameDetections:
        faces = [_face(x_small + 0.4, 40)] + ([_face(200.3, 80, 0.98)] if big else [])
        return FrameDetections(
            np.concatenate([f.boxes for f in faces]),
            np.concatenate([f.scores for f in faces]),
            np.concatenate([f.landmarks for f in faces]),
        )

    passer_by = follow_face(VideoDetections.from_frames([0, 2, 4], [two(0, False), two(2, True), two(4, False)]), 5)
    np.testing.assert_allclose(passer_by.boxes[[0, 2, 4]], [_face(x + 0.4).boxes[0] for x in (0, 2, 4)])
    both = follow_face(VideoDetections.from_frames([0, 2], [two(0, True), two(2, True)]), 3)
    np.testing.assert_allclose(both.boxes[0], _face(200.3, 80).boxes[0])


def test_sbi_cli_makes_a_frame_aligned_fake_video(tmp_path, carphone, capsys):
    real = write_video(tmp_path / "real.mp4", carphone, 29.97, crf=12, pix_fmt="yuv420p")
    assert main([f"source={real}", f"target={tmp_path / 'fake.mp4'}", "strength=2", "detect_every=4"]) == 0
    info = probe(tmp_path / "fake.mp4")
    assert (info.num_frames, info.width, info.height) == (24, 176, 144)
    with open_video(real, "pyav") as a, open_video(tmp_path / "fake.mp4", "pyav") as b:
        diff = np.abs(a.read([10]).astype(int) - b.read([10]).astype(int)).max(axis=-1)[0]
    assert (diff > 12).mean() > 0.05  # the face changed
    assert np.median(diff[:, :40]) <= 3  # the left edge of the frame (no face) did not, up to compression
    assert main([f"source={tmp_path / 'missing.mp4'}", f"target={tmp_path / 'x.mp4'}"]) == 2
    assert "missing.mp4: no such video" in capsys.readouterr().err


def test_sbi_folder_mode_writes_a_paired_dataset_and_resumes(tmp_path, carphone, capsys):
    """`python -m src.sbi source=REAL_DIR target=OUT_DIR`: fakes for every real video, labels pairing them for
    `data=folder`; a faceless and a corrupt video get one line each and the rest goes on; a rerun keeps the fakes."""
    from src.video.sources import FolderSource

    reals = tmp_path / "reals"
    write_video(reals / "a" / "talk.mp4", carphone[:12], 25, crf=12, pix_fmt="yuv420p")
    write_video(reals / "noface.mp4", np.full((12, 144, 176, 3), 90, np.uint8), 25, pix_fmt="yuv420p")
    (reals / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    out = tmp_path / "sbi"
    args = [f"source={reals}", f"target={out}", "strength=2", "detect_every=4"]
    assert main(args) == 1  # some failed: reported, the good one done
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("sbi: ")]
    assert len(err) == 2
    assert any("noface.mp4" in line and "no face" in line for line in err)
    assert any("broken.mp4" in line for line in err)
    labels = pd.read_csv(out / "labels.csv", keep_default_na=False)
    assert labels.to_dict("records") == [
        {"filename": "real/a/talk.mp4", "label": "REAL", "original": ""},
        {"filename": "fake/a/talk.mp4", "label": "FAKE", "original": "real/a/talk.mp4"},
    ]
    records = {r.video_id: r for r in FolderSource(out, "labels.csv").records()}
    assert records["fake/a/talk.mp4"].label == 1 and records["fake/a/talk.mp4"].original == "real/a/talk.mp4"
    assert records["real/a/talk.mp4"].label == 0
    assert probe(out / "fake" / "a" / "talk.mp4").num_frames == 12
    stamp = (out / "fake" / "a" / "talk.mp4").stat().st_mtime_ns
    assert main(args) == 1  # resumed: the fake is kept, not rewritten
    assert (out / "fake" / "a" / "talk.mp4").stat().st_mtime_ns == stamp


@pytest.fixture(scope="module")
def quick_demo(tmp_path_factory):
    """``python -m src.demo quick=true``: the reduced demo, end to end, as CI runs it."""
    work = tmp_path_factory.mktemp("demo")
    result = subprocess.run(
        [sys.executable, "-m", "src.demo", "quick=true", f"work_dir={work}"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return work / "demo", result.stdout


@pytest.mark.slow
def test_quick_demo_learns_to_find_self_blended_fakes(quick_demo):
    demo, stdout = quick_demo
    metrics = pd.read_csv(demo / "eval" / "metrics.csv", index_col="subset").loc["all"]
    print(f"quick demo held-out: log loss {metrics['log_loss']:.3f}, AUC {metrics['auc']:.3f}, n {metrics['n']}")
    assert metrics["n"] == 12
    assert metrics["log_loss"] < 0.693  # better than a coin flip
    assert f"log loss {metrics['log_loss']:.3f}" in stdout
    submission = pd.read_csv(demo / "submission.csv")
    assert len(submission) == 12 and submission["label"].between(0, 1).all()
    for plot in ("roc.png", "calibration.png", "demo.png"):
        assert (demo / "eval" / plot).stat().st_size > 5000
    assert len(list((demo / "eval").glob("timeline_*.png"))) == 2
    assert "python predict.py" in stdout  # the DFDC commands


@pytest.mark.slow
@pytest.mark.parametrize("notebook", ["01_explore_dataset.ipynb", "02_inspect_predictions.ipynb"])
def test_notebooks_run_top_to_bottom_on_the_demo_outputs(quick_demo, notebook, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    demo, _ = quick_demo
    monkeypatch.setenv("DFDETECT_DEMO", str(demo))
    nb = nbformat.read(REPO_ROOT / "notebooks" / notebook, as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(REPO_ROOT / "notebooks")}}
    ).execute()
    outputs = [out for cell in nb.cells for out in cell.get("outputs", [])]
    assert sum(1 for out in outputs if "image/png" in out.get("data", {})) >= 2
    printed = "".join(out.get("text", "") for out in outputs if out.get("output_type") == "stream")
    assert str(demo.resolve()) in printed  # it read this demo's outputs (DFDETECT_DEMO), not work/demo
