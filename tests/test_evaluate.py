"""Evaluation metrics (hand-computed), label/submission parsing, the CLI with its plots, the timing report."""

from __future__ import annotations

import csv
import math

import numpy as np
import pandas as pd
import pytest

from src.inference import plots
from src.inference.evaluate import (
    balanced_log_loss,
    join,
    load_labels,
    load_submission,
    log_loss,
    main,
    metrics,
    subsets,
)
from src.inference.timing import StageTimer, timing_report
from src.utils.io import write_json
from tests.helpers import REALVIDEOS, require_realvideos

# fakes 0.8, 0.6, 0.9; reals 0.3, 0.7
TARGET = np.array([1, 1, 1, 0, 0])
SCORE = np.array([0.8, 0.6, 0.9, 0.3, 0.7])


def test_log_loss_by_hand():
    # -(ln 0.8 + ln 0.6 + ln 0.9 + ln 0.7 + ln 0.3) / 5 = (0.223144 + 0.510826 + 0.105361 + 0.356675 + 1.203973) / 5
    assert log_loss(TARGET, SCORE) == pytest.approx(2.399979 / 5, abs=1e-6)
    # fake LL 0.839331 / 3 = 0.279777, real LL 1.560648 / 2 = 0.780324 → 0.530050
    assert balanced_log_loss(TARGET, SCORE) == pytest.approx(0.530050, abs=1e-6)


def test_log_loss_clipping():
    y, p = np.array([0, 1]), np.array([1.0, 1.0])
    assert log_loss(y, p, None) == math.inf
    assert log_loss(y, p) == pytest.approx(-math.log(1e-15) / 2, rel=1e-4)  # Kaggle eps
    assert log_loss(y, p, 0.01) == pytest.approx((-math.log(0.01) - math.log(0.99)) / 2)


def test_metrics_by_hand():
    m = metrics(TARGET, SCORE)
    assert m["n"] == 5 and m["n_fake"] == 3
    assert m["auc"] == pytest.approx(5 / 6)  # fake > real in 5 of the 6 pairs (0.6 < 0.7)
    assert m["ap"] == pytest.approx((1 + 1 + 3 / 4) / 3)  # ranks F F R F R
    assert m["acc@0.5"] == pytest.approx(0.8)
    assert m["log_loss_raw"] == pytest.approx(m["log_loss"])
    one_class = metrics(np.array([1, 1]), np.array([0.9, 0.8]))
    assert math.isnan(one_class["auc"]) and math.isnan(one_class["balanced_log_loss"])


def write_csv(path, header, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_labels_methods_and_subsets(tmp_path):
    labels = write_csv(
        tmp_path / "labels.csv",
        ["filename", "label", "dataset"],
        [
            ["ffpp/manipulated_sequences/Deepfakes/c23/videos/1_2.mp4", "FAKE", "ffpp"],
            ["ffpp/manipulated_sequences/FaceSwap/c23/videos/1_2.mp4", "FAKE", "ffpp"],
            ["ffpp/original_sequences/youtube/c23/videos/1.mp4", "REAL", "ffpp"],
            ["dfdc/a.mp4", "FAKE", "dfdc"],
            ["dfdc/b.mp4", "0", "dfdc"],
            ["x/unknown.mp4", "", "dfdc"],
        ],
    )
    frame = load_labels(labels)
    assert len(frame) == 5  # the unlabelled row is dropped
    assert sorted(frame["method"]) == ["DFDC", "Deepfakes", "FaceSwap", "real", "real"]
    joined = frame.assign(score=0.5)
    groups = subsets(joined)
    # a method's rows are its fakes plus the reals of its dataset, so AUC is defined
    assert sorted(groups["dataset=ffpp method=FaceSwap"]["target"]) == [0, 1]
    assert set(groups) >= {"all", "dataset=dfdc", "dataset=ffpp", "dataset=dfdc method=DFDC"}


def test_dfdc_metadata_labels_and_basename_join(tmp_path):
    meta = tmp_path / "metadata.json"
    write_json(meta, {"a.mp4": {"label": "FAKE", "original": "b.mp4"}, "b.mp4": {"label": "REAL"}})
    sub = write_csv(tmp_path / "s.csv", ["filename", "label"], [["a.mp4", 0.9]])
    joined, missing = join(load_submission(sub), load_labels(meta))
    assert joined["filename"].tolist() == ["a.mp4"] and missing == ["b.mp4"]
    assert joined["method"].tolist() == ["DFDC"]


def test_bad_submission_is_one_clear_error(tmp_path, capsys):
    sub = write_csv(tmp_path / "s.csv", ["filename", "label"], [["a.mp4", 1.5]])
    labels = write_csv(tmp_path / "l.csv", ["filename", "label"], [["a.mp4", "FAKE"]])
    assert main([f"submission={sub}", f"labels={labels}"]) == 2
    assert "probability in [0, 1]" in capsys.readouterr().err


def test_cli_on_realvideos_labels_writes_metrics_and_plots(tmp_path, capsys):
    require_realvideos()
    labels = pd.read_csv(REALVIDEOS / "labels.csv")
    rng = np.random.default_rng(0)
    scores = np.clip(np.where(labels["label"] == "FAKE", 0.7, 0.3) + rng.normal(0, 0.2, len(labels)), 0, 1)
    sub = write_csv(tmp_path / "sub.csv", ["filename", "label"], zip(labels["filename"], scores, strict=True))
    report = {
        "video_id": "dfdc/abofeumbvv.mp4",
        "score": 0.7,
        "status": "ok",
        "sampling": {"detected": [0, 6, 12, 18], "faces": [1, 1, 2, 0]},
        "members": [
            {
                "name": "seq",
                "samples": {"track": [0, 0, 1], "first": [0, 2, 6], "last": [0, 2, 6], "prob": [0.9, 0.8, 0.2]},
            },
            {"name": "sf", "error": None, "samples": {"track": [0], "first": [0], "last": [18], "prob": [0.6]}},
            {"name": "broken", "error": "oom", "samples": {"track": [], "first": [], "last": [], "prob": []}},
        ],
    }
    write_json(tmp_path / "sub_report" / "videos" / "dfdc" / "abofeumbvv.mp4.json", report)
    out = tmp_path / "eval"
    labels_csv = REALVIDEOS / "labels.csv"
    assert main([f"submission={sub}", f"labels={labels_csv}", f"out={out}", "timeline=[dfdc/abofeumbvv.mp4]"]) == 0
    printed = capsys.readouterr().out
    for column in ("log_loss", "log_loss_clip0.01", "log_loss_raw", "balanced_log_loss", "auc", "ap", "acc@0.5"):
        assert column in printed
    assert "dataset=ffpp method=Deepfakes" in printed
    table = pd.read_csv(out / "metrics.csv", index_col=0)
    assert table.loc["all", "n"] == len(labels)
    assert len(pd.read_csv(out / "per_video.csv")) == len(labels)
    for png in ("roc.png", "calibration.png", "timeline_dfdc__abofeumbvv.mp4.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"


def test_timeline_without_report_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing\.json"):
        plots.timeline(tmp_path / "missing.json", tmp_path / "t.png")


def test_timing_report():
    timer = StageTimer()
    with timer("decode"):
        pass
    with timer("decode"):
        pass
    assert set(timer.seconds) == {"decode"}
    report = timing_report([{"decode": 1.0, "detect": 3.0}, {"decode": 2.0, "model": 1.0}], wall_seconds=10.0)
    assert report.stage_seconds == {"decode": 1.5, "detect": 1.5, "model": 0.5}
    assert report.seconds_per_video == 5.0
    assert report.projected_hours == pytest.approx(5.0 * 4000 / 3600)
    assert "within the 8.1 s/video" in report.summary()
    assert "OVER" in timing_report([{}], wall_seconds=9.0).summary()
