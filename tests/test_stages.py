"""track → extract → index on small synthetic videos with hand-made detections: pairs, clips that decode to the
crops of the source, a corrupt video reported and skipped, a rerun after a kill, and the one-command entry point."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from src.faces.align import crop
from src.faces.pairs import Pairing
from src.faces.tracking.trackers import NtechTracker, TubeTracker
from src.preprocess.extract import ClipEncoder, extract_stage
from src.preprocess.index import index_stage, read_index
from src.preprocess.probe import probe_stage
from src.preprocess.runner import StageContext
from src.preprocess.track import track_stage
from src.video.io import open_video, write_video
from tests.helpers import REPO_ROOT, seed_pairing, synthetic_frames


def run_all(ctx: StageContext, tracker) -> dict:
    return {
        "probe": probe_stage(ctx),
        "track": track_stage(ctx, tracker),
        "extract": extract_stage(ctx, seed_pairing(tracker), ClipEncoder()),
        "index": index_stage(ctx, val_fraction=0.0),
    }


def test_pipeline_pairs_clips_and_reports_the_corrupt_video(dataset):
    ctx, root = dataset
    reports = run_all(ctx, NtechTracker(clip_length=16))
    for stage in ("probe", "track", "extract"):
        assert list(reports[stage].failures) == ["corrupt.mp4"], stage
    cause = reports["probe"].failures["corrupt.mp4"]
    assert "corrupt.mp4: " in cause and "\n" not in cause  # one line naming the file and the cause
    assert reports["track"].failures["corrupt.mp4"] == f"skipped, probe failed: {cause}"
    assert reports["extract"].failures["corrupt.mp4"] == f"skipped, probe failed: {cause}"
    assert reports["index"].failures == {"corrupt.mp4": f"probe failed: {cause}"}
    assert reports["index"].stats["videos"] == 3 and reports["index"].stats["pairs"] == 1

    index = read_index(ctx.work_dir / "index.parquet").set_index("clip_id")
    assert set(index["video_id"]) == {"real.mp4", "fake.mp4", "lonely.mp4"}
    (fake_clip,) = index.index[index["video_id"] == "fake.mp4"]
    row = index.loc[fake_clip]
    assert row["pair_aligned"] and row["pair_iou"] > 0.9 and row["original"] == "real.mp4"
    real_row = index.loc[row["pair_clip_id"]]
    assert (real_row["start_frame"], real_row["height"], real_row["width"]) == (
        row["start_frame"],
        row["height"],
        row["width"],
    )
    assert row["num_frames"] == 16 and row["height"] == 72 and row["width"] == 60
    assert index.loc[index["video_id"] == "lonely.mp4", "pair_clip_id"].tolist() == [""]

    # The clip decodes (decord, sorted arbitrary indices) to the crops of the source frames.
    sidecar = json.loads((ctx.work_dir / row["clip_path"]).with_suffix(".json").read_text())
    assert sidecar["paired_with"] == row["pair_clip_id"] and sidecar["size"] == [72, 60]
    picks = np.array([0, 3, 4, 9, 15])
    with open_video(ctx.work_dir / row["clip_path"], "decord") as clip:
        assert len(clip) == 16
        back = clip.read(picks)
    with open_video(root / "fake.mp4", "pyav") as source:
        frames = source.read(np.array(sidecar["source_frames"])[picks])
    expected = np.stack([crop(f, np.array(sidecar["crop_boxes"][i])) for f, i in zip(frames, picks, strict=True)])
    assert np.abs(back.astype(int) - expected).mean() <= 3


def test_tubes_pipeline_keeps_each_video_geometry(dataset):
    ctx, _ = dataset
    reports = run_all(ctx, TubeTracker(max_frames=12))
    index = read_index(ctx.work_dir / "index.parquet").set_index("video_id")
    assert reports["extract"].stats["clips"] == 3
    fake = index.loc["fake.mp4"]
    assert fake["pair_clip_id"] == "real.mp4/0_0" and not fake["pair_aligned"] and fake["num_frames"] == 12
    assert fake["height"] == fake["width"] == 62  # even(int(48 * 1.3)), constant square


def test_rerun_after_a_kill_skips_finished_videos(dataset, monkeypatch):
    ctx, _ = dataset
    tracker = NtechTracker(clip_length=16)
    probe_stage(ctx)
    track_stage(ctx, tracker)
    import src.preprocess.extract as stages

    real_cut, calls = stages.cut_clips, []

    def killed_on_second_video(video, *args, **kwargs):
        calls.append(video)
        if len(calls) == 2:
            raise KeyboardInterrupt  # what a kill looks like to the stage: not an ordinary per-video failure
        return real_cut(video, *args, **kwargs)

    monkeypatch.setattr(stages, "cut_clips", killed_on_second_video)
    with pytest.raises(KeyboardInterrupt):
        extract_stage(ctx, seed_pairing(tracker), ClipEncoder())
    done = ctx.work_dir / "clips" / "fake.mp4.json"
    assert done.is_file() and not (ctx.work_dir / "clips" / "lonely.mp4.json").exists()
    stamp = done.stat().st_mtime_ns
    monkeypatch.setattr(stages, "cut_clips", real_cut)
    report = extract_stage(ctx, seed_pairing(tracker), ClipEncoder())
    assert (report.done, report.skipped, report.failed) == (2, 1, 1)  # lonely + real redone, corrupt fails again
    assert done.stat().st_mtime_ns == stamp


def test_one_command_runs_every_stage_and_prints_a_summary(dataset):
    ctx, root = dataset
    command = [
        sys.executable,
        str(REPO_ROOT / "preprocess.py"),
        "data=folder",
        f"data.root={root}",
        "data.labels=labels.csv",
        f"paths.work_dir={ctx.work_dir.parent}",
        "data.work_dir=${paths.work_dir}/work",
        "run=[probe,track,extract,index]",
        "tracker.clip_length=16",
        "progress=false",
        "hydra.run.dir=" + str(ctx.work_dir.parent / "hydra"),
    ]
    out = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert any(line.startswith("extract: 4 items, 3 processed") and "pairs 1" in line for line in lines), out.stdout
    assert any(line.startswith("index:") and "clips 3" in line and "1 failed" in line for line in lines), out.stdout
    assert any(line.startswith("disk used in") and "clips" in line for line in lines), out.stdout


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["data=folder"], "config error: set data.root"),
        (["data=folder", "data.root=.", "run=[probe,detct]"], "unknown stage 'detct' in run=; available: probe"),
        (["data=folder", "data.root=/no/such/dir"], "data source folder: /no/such/dir: dataset root is not"),
    ],
)
def test_entry_point_config_errors_are_one_line(overrides: list[str], expected: str, tmp_path) -> None:
    """A wrong or missing setting stops before any video is read, with one line and no traceback."""
    command = [sys.executable, str(REPO_ROOT / "preprocess.py"), *overrides, f"hydra.run.dir={tmp_path / 'hydra'}"]
    out = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert out.returncode != 0
    assert expected in out.stderr and "Traceback" not in out.stderr, out.stderr[-2000:]
    assert not list(tmp_path.glob("**/probe/*")), "no stage may have run"


def test_tube_frames_without_detection_show_the_nearest_detected_image_losslessly(tmp_path) -> None:
    """RobustForensics filled a frame where the tube had no face with the nearest detected frame's box *and image*;
    the recipes' libx264rgb crf 0 clips give back those pixels exactly."""
    from src.faces.clips import whole_video_clip
    from src.faces.tracking import Track
    from src.preprocess.extract import cut_clips
    from src.video.io import probe

    frames = synthetic_frames(6, 48, 64, seed=3)
    write_video(tmp_path / "v.mp4", frames, fps=25, crf=0, pix_fmt="yuv444p", codec="libx264")
    detected = np.array([True, False, False, True, False, True])  # frames 1, 2 and 4 had no face
    track = Track(0, np.arange(6), np.tile([8, 8, 40, 40], (6, 1)), detected * 0.9, detected)
    plan = whole_video_clip(track, np.tile([8, 8, 40, 40], (6, 1)), 6)
    assert plan.image_frames.tolist() == [0, 0, 3, 3, 3, 5]  # ties go to the earlier detection
    info = probe(tmp_path / "v.mp4")
    with open_video(tmp_path / "v.mp4", "pyav", info) as reader:
        source = reader.read(np.arange(6))
    lossless = ClipEncoder(codec="libx264rgb", pix_fmt="rgb24", crf=0, tune=None)
    (path,) = cut_clips(tmp_path / "v.mp4", info, [plan], tmp_path / "clips", lossless).values()
    with open_video(path, "decord") as reader:
        clip = reader.read(np.arange(6))
    assert np.array_equal(clip, source[plan.image_frames, 8:40, 8:40])


def test_a_clip_with_a_frame_size_cuts_the_resized_frames(tmp_path) -> None:
    """A fake stored smaller than its original is cut after resizing its frames to the original's size."""
    import cv2

    from src.faces.clips import ClipPlan
    from src.preprocess.extract import cut_clips
    from src.video.io import probe

    frames = synthetic_frames(4, 48, 64, seed=5)
    write_video(tmp_path / "small.mp4", frames, fps=25, crf=0, codec="libx264rgb", pix_fmt="rgb24", tune=None)
    info = probe(tmp_path / "small.mp4")
    plan = ClipPlan(0, np.arange(4), np.tile([40, 8, 72, 40], (4, 1)), frame_size=(80, 48))  # outside 64 px
    lossless = ClipEncoder(codec="libx264rgb", pix_fmt="rgb24", crf=0, tune=None)
    (path,) = cut_clips(tmp_path / "small.mp4", info, [plan], tmp_path / "clips", lossless).values()
    with open_video(path, "decord") as reader:
        clip = reader.read(np.arange(4))
    expected = [cv2.resize(f, (80, 48), interpolation=cv2.INTER_LINEAR)[8:40, 40:72] for f in frames]
    assert np.array_equal(clip, np.stack(expected))


def test_per_pair_geometry_cuts_one_aligned_window_per_pair_in_both_videos(dataset):
    """NTech's seed: the original's clips are the real sides of its pairs' windows; each fake clip shares one."""
    ctx, _ = dataset
    probe_stage(ctx)
    track_stage(ctx, NtechTracker(clip_length=16))
    extract_stage(ctx, Pairing("per_pair"), ClipEncoder())
    index_stage(ctx, val_fraction=0.0)
    index = read_index(ctx.work_dir / "index.parquet").set_index("clip_id")
    (fake_clip,) = index.index[index["video_id"] == "fake.mp4"]
    row = index.loc[fake_clip]
    assert row["pair_aligned"] and row["label_track"] == "own" and row["pair_clip_id"].startswith("real.mp4/0_")
    real = index.loc[row["pair_clip_id"]]
    assert (real["start_frame"], real["num_frames"], real["height"]) == (row["start_frame"], 16, row["height"])
    assert fake_clip.count("_") == 3  # <track>_<start>_<x1>_<y1>, NTech's clip name
    assert index.loc[index["video_id"] == "real.mp4"].index.tolist() == [row["pair_clip_id"]]  # one pair, one clip
