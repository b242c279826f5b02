"""End to end: ``python predict.py`` on every real video (plus a truncated and a non-video file) with the tiny
ensemble (random weights, exported the way training exports) and the default MTCNN detector, then ``evaluate``.

Kept small: each video is looked at for its first second only (``ensemble.sampling.max_frames``), tracks need 3
detections instead of NTech's 7 (there are only 5 detection frames). One subprocess runs the real command line;
the other checks compose the same config and call the same code in process.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from src.inference.evaluate import main as evaluate
from src.inference.run import run as run_config
from src.inference.untrained import export_untrained
from src.utils.config import compose_config
from tests.helpers import MANIFEST, REALVIDEOS, REPO_ROOT, require_realvideos

QUICK = ["ensemble=tiny", "ensemble.sampling.max_frames=30", "ensemble.tracker.t_min=3", "progress=false"]
NO_FACE = [
    "other/intel-iot-devkit_sample-videos/bottle-detection.mp4",
    "other/intel-iot-devkit_sample-videos/car-detection.mp4",
]
SCORED = "dfdc/abqwwspghj.mp4"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    out = tmp_path_factory.mktemp("models")
    export_untrained(out, "tiny_seq", ["model=tiny"], seed=0)
    export_untrained(out, "tiny_frame", ["model=tiny", "model.net.seq_length=null"], seed=1)
    return out


def link_videos(root, names):
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).symlink_to(REALVIDEOS / name)
    return root


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Every real video (symlinks), a truncated copy of one and a text file with a video suffix."""
    require_realvideos()
    root = link_videos(tmp_path_factory.mktemp("videos"), [row["filename"] for row in MANIFEST])
    data = (REALVIDEOS / SCORED).read_bytes()
    (root / "broken").mkdir()
    (root / "broken" / "truncated.mp4").write_bytes(data[: len(data) // 40])
    (root / "broken" / "notes.mp4").write_text("not a video\n")
    return root


def arguments(videos, out, models) -> list[str]:
    return [f"videos={videos}", f"out={out}", f"models_dir={models}", *QUICK]


def predict_in_process(videos, out, models):
    return run_config(compose_config("predict", arguments(videos, out, models)))


@pytest.fixture(scope="module")
def run(videos, models, tmp_path_factory):
    out = tmp_path_factory.mktemp("predict") / "submission.csv"
    command = [sys.executable, "predict.py", *arguments(videos, out, models)]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return out, done


def read_rows(path) -> list[list[str]]:
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def test_a_row_for_every_video_with_fallbacks_for_broken_and_faceless_ones(run, videos):
    out, done = run
    rows = read_rows(out)
    assert rows[0] == ["filename", "label"]
    names = [name for name, _ in rows[1:]]
    assert names == sorted(names) and len(names) == len(MANIFEST) + 2
    labels = {name: float(label) for name, label in rows[1:]}
    assert all(0 <= v <= 1 for v in labels.values())
    fallbacks = json.loads((out.parent / "submission_report" / "run_report.json").read_text())["fallbacks"]
    for broken in ("broken/truncated.mp4", "broken/notes.mp4"):
        assert labels[broken] == 0.5
        assert fallbacks[broken].startswith(str(videos / broken))  # one line: the file and the cause
        assert f"fallback 0.50 for {broken}" in done.stdout + done.stderr
    for name in NO_FACE:
        assert labels[name] == 0.5 and fallbacks[name] == "no face"
    assert labels[SCORED] != 0.5 and SCORED not in fallbacks
    assert "timing:" in done.stdout and "4000 videos" in done.stdout


def test_one_video_alone_is_scored_as_in_the_batch(run, models, tmp_path):
    out, _ = run
    alone = tmp_path / "alone.csv"
    predict_in_process(link_videos(tmp_path / "videos", [SCORED]), alone, models)
    batch = dict(read_rows(out)[1:])
    assert read_rows(alone)[1:] == [[SCORED, batch[SCORED]]]


def test_evaluate_prints_every_metric_and_draws(run, tmp_path, capsys):
    out, _ = run
    labels = REALVIDEOS / "labels.csv"
    assert evaluate([f"submission={out}", f"labels={labels}", f"out={tmp_path}", f"timeline=[{SCORED}]"]) == 0
    printed = capsys.readouterr().out
    for column in ("log_loss", "log_loss_raw", "balanced_log_loss", "auc", "ap", "acc@0.5", "method=Deepfakes"):
        assert column in printed
    for png in ("roc.png", "calibration.png", f"timeline_{SCORED.replace('/', '__')}.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"


def test_missing_models_is_one_clear_line(videos, tmp_path):
    with pytest.raises(SystemExit) as stop:
        predict_in_process(videos, tmp_path / "s.csv", tmp_path / "no_models")
    assert str(stop.value) == (
        f"predict: {tmp_path / 'no_models' / 'tiny_seq.yaml'}: exported model not found (export a trained checkpoint "
        "with `python -m src.models.export`, or point models_dir= or ensemble.members.<name>.model.path= at its .yaml)"
    )
