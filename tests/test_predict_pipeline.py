"""The predictor and the batch runner in process, on short real videos, with a detector that returns a fixed
central box (the real detectors are exercised by the end-to-end test in test_predict.py): rows for every video,
fallbacks with reasons, a failing member, resume, the settings guard, and one video alone vs in a batch."""

from __future__ import annotations

import csv
import json
import shutil

import albumentations as A
import numpy as np
import pytest
import timm
import torch
from torch import nn

from src.faces.detectors.base import FaceDetector, FrameDetections
from src.faces.tracking.trackers import NtechTracker
from src.inference.aggregation import ntech_rule
from src.inference.batch import check_settings, predict_videos, report_path
from src.inference.crops import NtechFrames, NtechSequences
from src.inference.ensemble import Ensemble, ExportedModel, Member
from src.inference.pipeline import Predictor
from src.video.sampling import FirstFrames
from src.video.sources import FolderSource
from tests.helpers import REALVIDEOS, require_realvideos

VIDEOS = [
    "dfdc/abqwwspghj.mp4",
    "ffpp/original_sequences/youtube/c23/videos/519.mp4",
    "other/facenet-pytorch/video.mp4",
]


class CentreBox(FaceDetector):
    """A square face box in the middle of every frame (or none): deterministic tracks for pipeline tests."""

    name = "centre_box"

    def __init__(self, faces: bool = True):
        self.faces = faces

    def detect(self, frames: np.ndarray) -> list[FrameDetections]:
        h, w = frames.shape[1:3]
        side = min(h, w) / 3
        box = [w / 2 - side / 2, h / 2 - side / 2, w / 2 + side / 2, h / 2 + side / 2]
        return [FrameDetections([box], [0.99]) if self.faces else FrameDetections.empty() for _ in frames]


class Clips(nn.Module):
    """(N, T, 3, H, W) → (N, T) per-frame logits through timm's tiny test EfficientNet."""

    def __init__(self, seed: int):
        super().__init__()
        torch.manual_seed(seed)
        self.net = timm.create_model("test_efficientnet", num_classes=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(0, 1)).view(x.shape[:2])


class Broken(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("CUDA out of memory (simulated)")


TRANSFORM = A.Compose([A.SmallestMaxSize(max_size=64), A.CenterCrop(64, 56), A.Normalize()])


def ensemble(broken: bool = False) -> Ensemble:
    frame_net = Broken() if broken else Clips(1)
    members = [  # the frame member's layout: NTech's frame models take (N, 1, C, H, W) clips
        Member("seq", ExportedModel(Clips(0).eval()), NtechSequences(length=7), TRANSFORM),
        Member("frame", ExportedModel(frame_net.eval()), NtechFrames(phases=(0, 1, 2, 3)), TRANSFORM),
    ]
    members[1].layout = "sequence"
    return Ensemble(
        "test",
        members,
        ntech_rule,
        NtechTracker(t_min=3, interpolate_fps=15),
        FirstFrames(lambda info: np.arange(0, info.num_frames, max(1, round(int(info.fps) / 15))), max_frames=40),
        detect_every=3,
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Three real videos (symlinked) plus a truncated copy and an empty file."""
    require_realvideos()
    root = tmp_path_factory.mktemp("videos")
    for video in VIDEOS:
        (root / video).parent.mkdir(parents=True, exist_ok=True)
        (root / video).symlink_to(REALVIDEOS / video)
    data = (REALVIDEOS / VIDEOS[0]).read_bytes()
    (root / "broken").mkdir()
    (root / "broken" / "truncated.mp4").write_bytes(data[: len(data) // 50])
    (root / "broken" / "empty.mp4").write_bytes(b"")
    return root


@pytest.fixture(scope="module")
def batch_run(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "submission.csv"
    records = FolderSource(folder).records()
    summary = predict_videos(records, Predictor(ensemble(), CentreBox()), out, out.parent / "r", 0.5, progress=False)
    return out, summary, records


def rows(path) -> dict[str, str]:
    with open(path, newline="") as handle:
        reader = csv.reader(handle)
        assert next(reader) == ["filename", "label"]
        return dict(reader)


def test_every_video_gets_a_row_and_broken_ones_the_fallback(batch_run, folder):
    out, summary, records = batch_run
    got = rows(out)
    assert list(got) == sorted(r.video_id for r in records) and len(got) == 5
    assert got["broken/truncated.mp4"] == got["broken/empty.mp4"] == "0.5"
    assert set(summary.fallbacks) == {"broken/truncated.mp4", "broken/empty.mp4"}
    assert "empty file" in summary.fallbacks["broken/empty.mp4"]  # one line naming the file and the cause
    assert summary.fallbacks["broken/truncated.mp4"].startswith(str(folder / "broken" / "truncated.mp4"))
    for video in VIDEOS:
        assert 0 < float(got[video]) < 1 and float(got[video]) != 0.5
    run_report = json.loads((out.parent / "r" / "run_report.json").read_text())
    assert run_report["rows"] == 5 and set(run_report["fallbacks"]) == set(summary.fallbacks)
    assert summary.timing.videos == 3 and {"decode", "detect", "track", "model"} <= set(summary.timing.stage_seconds)


def test_report_of_a_scored_video(batch_run):
    out, _, _ = batch_run
    report = json.loads(report_path(out.parent / "r", VIDEOS[0]).read_text())
    assert report["status"] == "ok" and report["score"] == float(rows(out)[VIDEOS[0]])
    sampling = report["sampling"]
    assert sampling["decoded"] == list(range(0, 40, 2)) and sampling["detected"] == list(range(0, 40, 6))
    assert sampling["faces"] == [1] * 7
    seq, frame = report["members"]
    assert len(seq["samples"]["prob"]) == 7  # track over frames 0..36 at 15 fps: 19 frames, one 7-frame window
    assert len(frame["samples"]["prob"]) == 10  # every 2nd of 19 frames
    assert seq["error"] is None and 0 < seq["score_alone"] < 1


def test_one_video_alone_scores_exactly_as_in_the_batch(batch_run, folder, tmp_path):
    out, _, records = batch_run
    alone = tmp_path / "alone.csv"
    one = [r for r in records if r.video_id == VIDEOS[1]]
    predict_videos(one, Predictor(ensemble(), CentreBox()), alone, tmp_path / "r", 0.5, progress=False, prefetch=0)
    assert rows(alone) == {VIDEOS[1]: rows(out)[VIDEOS[1]]}


def test_rerun_resumes_and_rescores_only_what_is_missing(batch_run, tmp_path):
    out, _, records = batch_run
    reports = tmp_path / "r"
    shutil.copytree(out.parent / "r", reports)
    report_path(reports, VIDEOS[2]).unlink()
    calls = []

    class Counting(Predictor):
        def score(self, video, video_id):
            calls.append(video_id)
            return super().score(video, video_id)

    again = tmp_path / "again.csv"
    summary = predict_videos(records, Counting(ensemble(), CentreBox()), again, reports, 0.5, progress=False)
    assert calls == [VIDEOS[2]]  # the broken files are retried too, but fail before scoring
    assert rows(again) == rows(out) and summary.timing.videos == 1


def test_a_failing_member_is_left_out_and_reported(folder, tmp_path):
    records = [r for r in FolderSource(folder).records() if r.video_id == VIDEOS[0]]
    out = tmp_path / "s.csv"
    summary = predict_videos(records, Predictor(ensemble(broken=True), CentreBox()), out, tmp_path / "r", 0.5)
    assert float(rows(out)[VIDEOS[0]]) != 0.5 and not summary.fallbacks
    assert summary.member_failures == [
        {"video_id": VIDEOS[0], "member": "frame", "error": "CUDA out of memory (simulated)"}
    ]


def test_no_face_gives_the_fallback(folder, tmp_path):
    records = [r for r in FolderSource(folder).records() if r.video_id == VIDEOS[0]]
    out = tmp_path / "s.csv"
    summary = predict_videos(records, Predictor(ensemble(), CentreBox(faces=False)), out, tmp_path / "r", 0.5)
    assert rows(out) == {VIDEOS[0]: "0.5"} and summary.fallbacks == {VIDEOS[0]: "no face"}


def test_settings_guard(tmp_path):
    check_settings(tmp_path, "ensemble: a\n", overwrite=False)
    check_settings(tmp_path, "ensemble: a\n", overwrite=False)  # same settings: resume
    with pytest.raises(SystemExit, match="other settings"):
        check_settings(tmp_path, "ensemble: b\n", overwrite=False)
    check_settings(tmp_path, "ensemble: b\n", overwrite=True)


def test_time_limit_and_ctrl_c_still_write_a_complete_submission(folder, tmp_path):
    records = FolderSource(folder).records()
    out = tmp_path / "limit.csv"
    summary = predict_videos(records, Predictor(ensemble(), CentreBox()), out, tmp_path / "r1", 0.5, time_limit=0)
    assert set(rows(out).values()) == {"0.5"} and len(rows(out)) == 5
    assert all("time limit of 0 s reached" in reason for reason in summary.fallbacks.values())

    class Interrupted(Predictor):
        def score(self, video, video_id):
            if video_id == VIDEOS[1]:
                raise KeyboardInterrupt
            return super().score(video, video_id)

    out = tmp_path / "interrupted.csv"
    with pytest.raises(KeyboardInterrupt):
        predict_videos(records, Interrupted(ensemble(), CentreBox()), out, tmp_path / "r2", 0.5, progress=False)
    got = rows(out)
    assert len(got) == 5 and got[VIDEOS[0]] != "0.5" and got[VIDEOS[1]] == got[VIDEOS[2]] == "0.5"
