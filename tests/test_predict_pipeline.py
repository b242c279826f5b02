"""The predictor and the batch runner in process, on short real videos, with a detector that returns a fixed
central box (the real detectors are exercised by the end-to-end test in test_predict.py): rows for every video,
fallbacks with reasons, a failing member, resume, the settings guard, and one video alone vs in a batch."""

from __future__ import annotations

import json
import shutil

import pytest

from src.inference.batch import check_settings, predict_videos, report_path
from src.inference.pipeline import Predictor
from src.video.sources import FolderSource
from tests.predict_helpers import VIDEOS, CentreBox, ensemble, rows, video_folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return video_folder(tmp_path_factory.mktemp("videos"))


@pytest.fixture(scope="module")
def batch_run(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "submission.csv"
    records = FolderSource(folder).records()
    summary = predict_videos(records, Predictor(ensemble(), CentreBox()), out, out.parent / "r", 0.5, progress=False)
    return out, summary, records


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
