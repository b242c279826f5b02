"""`recipe=ntech` and `recipe=robustforensics`: every entry point composes to the seed's numbers (spec
ntechlab_detail.md, robustforensics.md), and a composition whose shared values disagree stops at start-up in one line.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from src.preprocess.index import read_index, read_index_settings
from src.utils.recipe import check_recipe
from tests.helpers import REALVIDEOS, REPO_ROOT, WEIGHTS, require_realvideos


def composed(entry: str, *overrides: str) -> DictConfig:
    with initialize_config_dir(str(REPO_ROOT / "conf"), version_base="1.3"):
        return compose(entry, overrides=["data.root=/data/dfdc", *overrides] if entry != "predict" else list(overrides))


def refusal(entry: str, *overrides: str) -> str:
    with pytest.raises(SystemExit) as stop:
        check_recipe(composed(entry, *overrides), entry)
    message = str(stop.value.code)
    assert "\n" not in message and message.startswith("config error: ")
    return message


def test_ntech_preprocess_is_the_seeds() -> None:
    cfg = composed("preprocess", "recipe=ntech")
    check_recipe(cfg, "preprocess")
    detector = cfg.stages.detect.detector
    # §1.2: DSFD R152, area-preserving 512x512 INTER_AREA, NMS 0.3, conf 0.01, top_k 5000, score > 0.3, every 6th
    assert detector.name == "dsfd" and detector.transform.area == 512 * 512
    assert detector.transform.interpolation == "area"
    assert (detector.nms_threshold, detector.confidence_threshold, detector.top_k, detector.keep_threshold) == (
        0.3, 0.01, 5000, 0.3
    )  # fmt: skip
    assert cfg.stages.detect.sampler.step == 6 and cfg.stages.detect.sampler.start == 0
    # §1.3-1.5: IoU tracker 0.3/0.9/0.3, T_MIN 1; 50-frame clips, box x1.5, SEED 0xDEADFACE
    tracker = cfg.stages.track.tracker
    assert (tracker.sigma_l, tracker.sigma_h, tracker.sigma_iou, tracker.t_min) == (0.3, 0.9, 0.3, 1)
    assert (tracker.clip_length, tracker.box_mult, tracker.seed, tracker.interpolate_fps) == (50, 1.5, 0xDEADFACE, None)
    # §1.4: tracks of >= 5 detections, min IoU > 0.5; pixel-aligned pairs
    pairing = cfg.stages.extract.pairing
    assert (pairing.geometry, pairing.min_detections, pairing.min_iou) == ("per_pair", 5, 0.5)
    # lossless clips, as the seed's PNG crops; the fork trained on parts 0-35 and held out 36-49
    encoder = cfg.stages.extract.encoder
    assert (encoder.codec, encoder.pix_fmt, encoder.crf) == ("libx264rgb", "rgb24", 0)
    assert list(cfg.stages.index.val_parts) == list(range(36, 50)) and cfg.stages.index.recipe == "ntech"


def test_robustforensics_preprocess_is_the_seeds() -> None:
    cfg = composed("preprocess", "recipe=robustforensics")
    check_recipe(cfg, "preprocess")
    detector = cfg.stages.detect.detector
    # §2: RetinaFace mnet, shorter side 400 (longer <= 2150), conf 0.02, NMS 0.4, keep >= 0.8, batches of 8
    assert detector.name == "retinaface_mnet" and detector.net._target_.endswith("retinaface_mobilenet025")
    assert (detector.transform.short_side, detector.transform.max_long_side) == (400, 2150)
    assert (detector.confidence_threshold, detector.nms_threshold, detector.keep_threshold) == (0.02, 0.4, 0.8)
    assert detector.batch_size == 8
    assert cfg.stages.detect.sampler.step == 1 and cfg.stages.detect.sampler.max_count is None  # §1: every frame
    # §3: score >= 0.8, IoU 0.5 tubes, 1.3x squares, every voted face kept in training, whole-video clips
    tracker = cfg.stages.track.tracker
    assert (tracker.name, tracker.score_threshold, tracker.iou_threshold, tracker.scale) == ("tubes", 0.8, 0.5, 1.3)
    assert tracker.max_faces is None and tracker.max_frames is None
    assert cfg.stages.extract.pairing.geometry == "own"  # RF never paired
    assert cfg.stages.extract.encoder.codec == "libx264rgb" and cfg.stages.extract.encoder.crf == 0
    assert list(cfg.stages.index.val_parts) == list(range(30, 40))  # §4: the image models' val_30-39


def test_ntech_train_is_the_seeds() -> None:
    cfg = composed("train", "recipe=ntech")
    check_recipe(cfg, "train")
    model = cfg.model
    # §2.3, §3: B7-NS seq at 224x192, 7 frames [19..31] of the 50-frame clip, batch 8, 100k steps, SGD nesterov
    # 0.005 / 0.9 / 1e-4, 100 head-only warm-up steps, mixup Beta(0.5, 0.5), dropout 0.5, drop-connect 0.2, fp32
    assert model.name == "b7_seq" and model.net.model_name == "tf_efficientnet_b7.ns_jft_in1k"
    assert list(model.input.frames) == [19, 21, 23, 25, 27, 29, 31] and model.net.seq_length == 7
    assert list(model.input.crop) == [224, 192] and model.input.min_size == 224
    assert (model.batch_size, model.max_steps, model.seed) == (8, 100000, 20)
    optimizer = model.module.optimizer
    assert (optimizer.lr, optimizer.momentum, optimizer.nesterov, optimizer.weight_decay) == (0.005, 0.9, True, 1e-4)
    assert model.callbacks.head_warmup.steps == 100 and model.train_dataset.mixup_alpha == 0.5
    assert (model.net.drop_rate, model.net.drop_path_rate, model.net.bn_momentum) == (0.5, 0.2, 0.01)
    assert model.train_dataset.source_fps == 30  # TrackPairDataset.FPS
    assert cfg.trainer.precision == "32-true" and cfg.trainer.devices == 1  # the seed: fp32 on one GPU
    assert list(cfg.data.val_parts) == list(range(36, 50))


def test_robustforensics_train_is_the_seeds_experiment() -> None:
    cfg = composed("train", "recipe=robustforensics", "experiment=rf_b1")
    check_recipe(cfg, "train")
    # §5.2 #2: B1 at 299, global batch 128 over 8 GPUs, 0.01 -> 0.03, milestones 15k..45k, 60002 iterations
    assert cfg.model.name == "rf_b1" and cfg.model.batch_size == 128 and cfg.model.max_steps == 60002
    assert (cfg.model.recipe.base_lr, cfg.model.recipe.peak_lr) == (0.01, 0.03)
    assert list(cfg.model.recipe.milestones) == [15000, 25000, 35000, 45000]
    assert list(cfg.data.val_parts) == list(range(30, 40))
    assert "config error: model.name=b7_seq is not one of recipe.models" in refusal("train", "recipe=robustforensics")


def test_ntech_predict_is_the_seeds() -> None:
    cfg = composed("predict", "recipe=ntech", "videos=v")
    check_recipe(cfg, "predict")
    # §5: DSFD at longer side 512 padded to 32, batches of 16; 15 fps stream, detection on every 3rd frame; tracks
    # of >= 7 detections interpolated; 7-frame windows every 14 frames; |d|^0.65 sharpening, clip [0.01, 0.99]
    assert cfg.detector.name == "dsfd_predict" and cfg.detector.transform.size == 512
    assert cfg.detector.transform.size_divisible == 32 and cfg.detector.batch_size == 16
    ensemble = cfg.ensemble
    assert ensemble.name == "ntech_seq" and ensemble.sampling.sampler.target_fps == 15 and ensemble.detect_every == 3
    assert (ensemble.tracker.t_min, ensemble.tracker.interpolate_fps) == (7, 15)
    assert ensemble.members.seq.crops.every == 14 and "length" not in ensemble.members.seq.crops  # the export's
    assert (ensemble.rule.power, list(ensemble.rule.clip), ensemble.fallback) == (0.65, [0.01, 0.99], 0.5)


def test_robustforensics_predict_is_the_seeds() -> None:
    cfg = composed("predict", "recipe=robustforensics", "videos=v")
    check_recipe(cfg, "predict")
    # §8: 160-frame sampling, detection on all of them, at most 2 faces, 11 members weighted 10/8/4/8 and
    # 10/6/4/10/8/8/7
    assert cfg.detector.name == "retinaface_mnet"
    ensemble = cfg.ensemble
    assert ensemble.sampling.sampler.max_frames == 160 and ensemble.detect_every == 1
    assert ensemble.tracker.name == "tubes" and ensemble.tracker.max_faces == 2
    weights = {name: member.weight for name, member in ensemble.members.items()}
    video = {"sf1": 10, "sf2": 8, "sf3": 4, "sf4": 8}
    assert weights == video | {"xcp": 10, "b3": 6, "res34": 4, "b1": 10, "b1long": 8, "b1short": 8, "b0": 7}


def test_the_default_recipe_keeps_the_embedded_detector() -> None:
    for entry, extra in (("preprocess", ()), ("predict", ("videos=v",))):
        cfg = composed(entry, *extra)
        check_recipe(cfg, entry)
        assert cfg.recipe.name == "none" and cfg.detector.name == "mtcnn"


@pytest.mark.parametrize(
    ("entry", "overrides", "keys"),
    [
        # a 40-frame clip plan with the 7-frame offsets of a 50-frame clip, either way round
        ("preprocess", ["recipe=ntech", "tracker.clip_length=40"], ["tracker.clip_length=40", "recipe.clip_length=50"]),
        ("train", ["recipe=ntech", "recipe.clip_length=40"], ["model.input.frames=", "recipe.clip_length=40"]),
        ("train", ["recipe=ntech", "model.net.seq_length=5"], ["model.net.seq_length=5", "model.input.frames="]),
        ("preprocess", ["recipe=ntech", "detector=mtcnn"], ["detector.name=mtcnn", "recipe.detectors.preprocess=dsfd"]),
        ("predict", ["recipe=ntech", "detector=dsfd", "videos=v"], ["detector.name=dsfd", "recipe.detectors.predict"]),
        ("preprocess", ["recipe=robustforensics", "tracker=ntech"], ["tracker.name=ntech", "recipe.tracker=tubes"]),
        ("preprocess", ["recipe=robustforensics", "detector.weights=null"], ["detector.weights=null", "random_init"]),
    ],
)
def test_a_disagreeing_composition_is_refused_in_one_line(entry: str, overrides: list[str], keys: list[str]) -> None:
    message = refusal(entry, *overrides)
    assert all(key in message for key in keys), message


def test_random_detector_weights_are_allowed_only_when_asked_for() -> None:
    check_recipe(composed("preprocess", "recipe=ntech", "detector.weights=null", "+random_init=true"), "preprocess")


def test_the_entry_point_exits_1_before_reading_any_video(tmp_path) -> None:
    command = [sys.executable, "preprocess.py", "recipe=ntech", "tracker.clip_length=40", f"data.root={tmp_path}/none"]
    out = subprocess.run([*command, f"hydra.run.dir={tmp_path}"], capture_output=True, text=True, cwd=REPO_ROOT)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        "config error: tracker.clip_length=40 disagrees with recipe.clip_length=50; set one to the other"
    ]


PAIR = {  # an FF++ c40 original and one of its fakes, in their FF++ layout
    "ffpp/original_sequences/youtube/c40/videos/183.mp4": ("REAL", ""),
    "ffpp/manipulated_sequences/Deepfakes/c40/videos/183_253.mp4": ("FAKE", "183.mp4"),
}


def preprocess_pair(tmp_path: Path, *overrides: str) -> Path:
    """``preprocess.py`` over the pair of real videos; the work dir."""
    require_realvideos()
    root = tmp_path / "videos"
    for name in PAIR:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).symlink_to(REALVIDEOS / name)
    rows = "".join(f"{name},{label},{original}\n" for name, (label, original) in PAIR.items())
    (root / "labels.csv").write_text("filename,label,original\n" + rows)
    command = [sys.executable, "preprocess.py", "data=folder", f"data.root={root}", "data.labels=labels.csv"]
    command += [f"paths.work_dir={tmp_path}/work", "progress=false", f"hydra.run.dir={tmp_path}/hydra", *overrides]
    out = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return tmp_path / "work" / "folder"


@pytest.mark.slow
def test_robustforensics_recipe_preprocesses_real_videos_end_to_end(tmp_path) -> None:
    weights = WEIGHTS / "retinaface_mobilenet0.25_Final.pth"
    if not weights.is_file():
        pytest.skip(f"RetinaFace weights not found at {weights}")
    # every frame as the recipe says, only the first 12 of each video to stay cheap
    work = preprocess_pair(
        tmp_path,
        "recipe=robustforensics",
        f"detector.weights.path={weights}",
        "sampling.max_count=12",
        "tracker.max_frames=12",
    )
    index = read_index(work / "index.parquet")
    assert read_index_settings(work / "index.parquet") == {
        "recipe": "robustforensics",
        "detectors": ["retinaface_mnet"],
        "trackers": ["tubes"],
    }
    assert len(index) == 2 and set(index["recipe"]) == {"robustforensics"}
    assert set(index["detector"]) == {"retinaface_mnet"} and set(index["tracker"]) == {"tubes"}
    assert set(index["label_track"]) == {"own"} and (index["num_frames"] == 12).all()
    assert (index["height"] == index["width"]).all()  # one constant square per tube


@pytest.mark.slow
def test_ntech_recipe_preprocesses_real_videos_end_to_end_with_a_random_dsfd(tmp_path) -> None:
    # DSFD's weights are not part of the test data: random weights (allowed only with +random_init=true) at a small
    # input on two frames check the pipeline, not the detections
    work = preprocess_pair(
        tmp_path, "recipe=ntech", "detector.weights=null", "+random_init=true", "detector.transform.area=16384",
        "sampling.max_count=2",
    )  # fmt: skip
    settings = read_index_settings(work / "index.parquet")
    assert settings == {"recipe": "ntech", "detectors": ["dsfd"], "trackers": ["ntech"]}
    manifest = (work / "clips" / next(iter(PAIR))).with_suffix(".mp4.json")
    assert '"name": "dsfd"' in manifest.read_text() and '"name": "ntech"' in manifest.read_text()


def test_the_ensemble_takes_a_sequence_models_window_length_from_its_export() -> None:
    from torch import nn

    from src.inference.crops import NtechSequences
    from src.inference.ensemble import ExportedModel, Member

    def member(crops: NtechSequences, seq_length: int | None) -> Member:
        return Member("seq", ExportedModel(nn.Identity(), seq_length=seq_length), crops, transform=lambda **kw: kw)

    assert member(NtechSequences(), 7).crops.length == 7
    assert member(NtechSequences(length=5), None).crops.length == 5  # a model without the record: the config's
    with pytest.raises(ValueError, match=r"crops\.length=5 but its model takes 7 frames"):
        member(NtechSequences(length=5), 7)
