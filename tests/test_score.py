"""``python -m src.score``: real videos scored by randomly initialised exports of the released ensembles (Selim's
with a tiny timm encoder at 64 px, RobustForensics' B0 and SlowFast members at 64 px), the HTML report's contents,
verdicts for unreadable and faceless files, face-crop videos (the MTCNN brightening fix, short clips, the whole
frame as the face) and ``predict.py videos=<one file>``."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from skimage import data

from src.inference import score as score_module
from src.inference.pipeline import FacePreparer
from src.inference.run import run as run_predict
from src.inference.untrained import export_untrained
from src.models.convert import ReleasedFile, build_net, model_spec_of
from src.models.export import write_export
from src.score import main as score
from src.video.io import write_video
from tests.helpers import REALVIDEOS, REPO_ROOT, default_detector, require_realvideos, synthetic_frames

VIDEO = "ffpp/manipulated_sequences/Deepfakes/c23/videos/519_515.mp4"  # 640x480, one face
NO_FACE = "other/intel-iot-devkit_sample-videos/bottle-detection.mp4"
RF_KEPT = {"b0": "experiment=rf_b0", "sf1": "experiment=rf_sf_32x4"}
RF_DROPPED = ["sf2", "sf3", "sf4", "xcp", "b3", "res34", "b1", "b1long", "b1short"]


def export_random(out, name: str, spec: dict, seed: int) -> None:
    torch.manual_seed(seed)
    write_export(build_net(spec).state_dict(), spec, out, name)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Random exports under the names the selim and robustforensics ensembles look for (small networks/inputs)."""
    out = tmp_path_factory.mktemp("models")
    selim = OmegaConf.to_container(OmegaConf.load(REPO_ROOT / "conf" / "release" / "selim.yaml"), resolve=True)
    for seed, (name, entry) in enumerate(selim["files"].items()):
        spec = entry["spec"] | {"name": name}
        spec["net"] |= {"model_name": "test_efficientnet"}
        spec["val_transform"] |= {"size": 64}
        export_random(out, name, spec, seed)
    for seed, (member, experiment) in enumerate(RF_KEPT.items()):
        export_random(out, f"rf_{member}", model_spec_of(ReleasedFile(f"rf_{member}", "", model=[experiment])), seed)
    export_untrained(out, "tiny_seq", ["model=tiny"], seed=0)
    export_untrained(out, "tiny_frame", ["model=tiny", "model.net.seq_length=null"], seed=1)
    return out


def face_crop_video(path, frames: int = 24, size: int = 298, dim: float = 0.5) -> str:
    """A real face (scikit-image's astronaut), dimmed, over a black canvas: what dataset face crops look like."""
    face = cv2.resize(data.astronaut()[20:230, 150:330], (120, 140))
    canvas = np.zeros((frames, size, size, 3), np.uint8)
    for t in range(frames):
        top, left = 80 + t % 3, 90 + t % 2  # a little motion
        canvas[t, top : top + 140, left : left + 120] = (face * dim).astype(np.uint8)
    return str(write_video(path, canvas, fps=25))


def reported(report) -> str:
    return report.read_text(encoding="utf-8")


@pytest.mark.slow
def test_selim_scores_a_real_video_and_writes_the_report(models, tmp_path, capsys):
    require_realvideos()
    report = tmp_path / "report.html"
    broken = tmp_path / "notes.mp4"
    broken.write_text("not a video\n")
    args = [str(REALVIDEOS / VIDEO), str(broken), f"models_dir={models}", f"report={report}", "progress=false",
            "ensemble.sampling.num_frames=8"]  # fmt: skip
    scored, unreadable = score(args)
    out = capsys.readouterr().out
    assert re.search(r"519_515\.mp4: P\(fake\) = 0\.\d{3}", out) and "track 0 (frames" in out
    assert "s111_36 0." in out and f"report: {report}" in out
    assert scored.result.status == "ok" and scored.faces_path == "face detector mtcnn_selim"
    assert len(scored.result.decoded) == 8 and scored.tracks and scored.explanation is not None
    assert unreadable.score == 0.5 and unreadable.verdict.startswith("unreadable: ") and str(broken) in out
    page = reported(report)
    items = ["Score timeline per track and model", "The rule's decision", "The faces the models saw", "Worst frames",
             "Detector boxes", "faces above 0.8", "weighted mean of the 7 members", "track score",
             "faces: face detector mtcnn_selim"]  # fmt: skip
    for item in items:
        assert item in page, item
    assert page.count("data:image/png;base64,") == 4


@pytest.mark.slow
def test_robustforensics_scores_a_real_video_and_says_why(models, tmp_path, capsys):
    require_realvideos()
    report = tmp_path / "rf.html"
    small = [f"ensemble.members.{m}=null" for m in RF_DROPPED] + [
        "ensemble.members.b0.transform.size=64",
        "ensemble.members.sf1.transform.transforms.0.height=64",
        "ensemble.members.sf1.transform.transforms.0.width=64",
        "ensemble.sampling.max_frames=60",
    ]
    (scored,) = score([str(REALVIDEOS / VIDEO), "ensemble=robustforensics", f"models_dir={models}",
                       f"report={report}", "progress=false", *small])  # fmt: skip
    assert scored.result.status == "ok" and {m["name"] for m in scored.result.members} == {"b0", "sf1"}
    page = reported(report)
    assert "image group:" in page and "video group:" in page and "0.4·" in page
    assert "P(fake) = " in capsys.readouterr().out


@pytest.mark.slow
def test_no_face_and_face_crop_verdicts(models, tmp_path, capsys):
    """A faceless video: "no face" (too wide to be a crop); a small square video without a face: scored as a crop."""
    require_realvideos()
    squares = str(write_video(tmp_path / "squares.mp4", synthetic_frames(10, 128, 128), fps=10))
    args = [f"models_dir={models}", f"report={tmp_path / 'r.html'}", "progress=false", "ensemble.sampling.num_frames=4"]
    no_face, crop = score([str(REALVIDEOS / NO_FACE), squares, *args])
    assert no_face.score == 0.5 and no_face.result.status == "no_face" and "no face found" in no_face.verdict
    assert crop.result.status == "ok" and "taken for a face crop: the whole frame is the face" in crop.faces_path
    assert "whole frame is the face (faces=auto)" in reported(tmp_path / "r.html")


def black_canvas_face() -> np.ndarray:
    face = cv2.resize(data.astronaut()[20:230, 150:330], (120, 140))
    canvas = np.zeros((298, 298, 3), np.uint8)
    canvas[80:220, 90:210] = (face * 0.5).astype(np.uint8)
    return canvas


def pillarboxed_face() -> np.ndarray:
    frame = np.zeros((360, 640, 3), np.uint8)
    frame[30:330, 170:470] = cv2.resize((data.astronaut() * 0.3).astype(np.uint8), (300, 300))
    return frame


@pytest.mark.parametrize("make_frame", [black_canvas_face, pillarboxed_face])
def test_mtcnn_finds_a_face_over_black_borders(make_frame):
    """The brightening fix: brightened by its frame mean (x6-x10 here), such a face burnt out and was missed."""
    frame = make_frame()[None]
    assert frame.mean() < 25
    by_frame_mean = np.clip(frame * (130 / frame.mean()), 0, 255).astype(np.uint8)  # the old brightening
    assert len(default_detector(min_brightness=None)(by_frame_mean)[0]) == 0
    (found,) = default_detector()(frame)
    assert len(found) == 1 and found.scores[0] > 0.99


@pytest.mark.slow
def test_short_face_crop_clip_is_scored_and_the_cause_named(models, tmp_path):
    """24 frames of a face crop: the NTech tracker never forms a track (t_min=7, 4 detection frames)."""
    video = face_crop_video(tmp_path / "crop.mp4")
    args = ["ensemble=tiny", f"models_dir={models}", f"report={tmp_path / 'r.html'}", "progress=false"]
    (scored,) = score([video, *args])
    assert scored.result.status == "ok" and scored.score != 0.5
    assert scored.faces_path.startswith("face detector mtcnn; short clip: 4 of 4 detection frames have a face but")
    assert "a track needs t_min=7 detections; scored with t_min=4" in scored.faces_path
    (whole,) = score([video, "faces=whole_frame", *args])
    assert whole.result.status == "ok" and whole.faces_path.startswith("the whole frame is the face")
    assert "short clip" in whole.faces_path


def test_score_decodes_and_detects_a_video_once_even_through_its_fallbacks(models, tmp_path, monkeypatch):
    """The pictures use the frames preparation decoded; the short-clip fallback prepares again from them and from
    the first run's detections (only the tracker changes)."""
    from src.faces.detectors.mtcnn import MTCNNDetector

    video = face_crop_video(tmp_path / "crop.mp4")
    decodes, detected = [], []
    decode, detect = FacePreparer._chunks, MTCNNDetector.detect
    monkeypatch.setattr(
        FacePreparer, "_chunks", lambda self, path, *rest: decodes.append(path) or decode(self, path, *rest)
    )
    monkeypatch.setattr(
        MTCNNDetector, "detect", lambda self, frames: detected.append(len(frames)) or detect(self, frames)
    )
    monkeypatch.setattr(score_module, "sampled_frames", lambda *_: pytest.fail("the report decoded the video again"))
    args = ["ensemble=tiny", f"models_dir={models}", f"report={tmp_path / 'r.html'}", "progress=false"]
    (scored,) = score([video, *args])
    assert "short clip" in scored.faces_path and decodes == [video]
    assert sum(detected) == len(scored.result.detected) == 4  # each detection frame once
    assert sum(len(f) for f in scored.detections.frames) == 4  # the replayed faces are the report's
    assert np.shape(scored.frames.frames) == (len(scored.result.decoded), 298, 298, 3)


def test_predict_accepts_a_single_video_file(models, tmp_path):
    video = face_crop_video(tmp_path / "clip.mp4", frames=60)
    out = tmp_path / "submission.csv"
    overrides = [f"videos={video}", f"out={out}", f"models_dir={models}", "ensemble=tiny", "ensemble.tracker.t_min=3",
                 "progress=false"]  # fmt: skip
    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
        summary = run_predict(compose("predict", overrides=overrides))
    assert list(summary.rows) == ["clip.mp4"] and not summary.fallbacks
    assert out.read_text().splitlines()[1].startswith("clip.mp4,")
