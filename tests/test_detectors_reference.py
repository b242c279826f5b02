"""The re-implemented networks against the reference dumps in ../shared/spec/reference (see its README):
RetinaFace-mnet reproduces RobustForensics' boxes with the real weights; DSFD and RetinaFace-R50 load state dicts
with the reference key sets and shapes and run on a real frame."""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np
import pytest
import torch
import torchvision
from hydra.utils import instantiate
from omegaconf import OmegaConf

from src.faces.detectors.dsfd_net import DSFD
from src.faces.detectors.retinaface import RetinaFaceDetector
from src.faces.detectors.retinaface_net import retinaface_mobilenet025, retinaface_resnet50
from src.faces.detectors.transforms import ShortSideResize
from src.utils.config import compose_config
from src.video.io import open_video
from tests.helpers import REPO_ROOT, SPEC_REFERENCE, WEIGHTS, reference_keys, require_realvideos

MNET_WEIGHTS = WEIGHTS / "retinaface_mobilenet0.25_Final.pth"
PARITY = SPEC_REFERENCE / "retinaface_mnet_parity.json"


def state_dict_from_keys(keys: list[tuple[str, list[int], str]], prefix: str = "") -> dict[str, torch.Tensor]:
    """Random but well-conditioned tensors of the listed shapes: He-scaled kernels, unit BN statistics, residual
    branches starting at zero (last BN scale 0), the first conv scaled for 0-255 pixels and the output convs near
    zero, so activations stay finite through 150 layers, the FPN products and the box exponentials."""
    generator = torch.Generator().manual_seed(0)
    first_convs = {"layer1.0.weight", "body.conv1.weight"}
    state = {}
    for key, shape, dtype in keys:
        if dtype == "int64":
            value = torch.zeros(shape, dtype=torch.int64)
        elif key.endswith("running_var"):
            value = torch.ones(shape)
        elif key.endswith(("running_mean", "bias")):
            value = torch.zeros(shape)
        elif len(shape) == 1:  # BN scale
            value = torch.zeros(shape) if re.search(r"\.bn3\.weight$", key) else torch.ones(shape)
        else:
            fan_in = int(np.prod(shape[1:]))
            gain = 0.01 if key in first_convs or re.search(r"(conv4|conv1x1)\.weight$", key) else 1.0
            value = torch.randn(shape, generator=generator) * gain * (2 / fan_in) ** 0.5
        state[prefix + key] = value
    return state


def real_frame(video: str = "dfdc/lynaeydofd.mp4", index: int = 0) -> np.ndarray:
    root = require_realvideos()
    with open_video(root / video, "pyav") as reader:
        return reader.read([index])


# --- RetinaFace MobileNet-0.25: parity with RobustForensics' own detect_face() ------------------------------------


@pytest.fixture(scope="module")
def parity_entries() -> list[dict]:
    if not PARITY.is_file() or not MNET_WEIGHTS.is_file():
        pytest.skip(f"{PARITY} or {MNET_WEIGHTS} not found")
    require_realvideos()
    return json.loads(PARITY.read_text())


def test_mnet_state_dict_matches_the_reference_and_the_real_checkpoint():
    keys = reference_keys("retinaface_mnet025.keys.txt")
    state = retinaface_mobilenet025().state_dict()
    assert [(k, list(v.shape)) for k, v in state.items()] == [(k, s) for k, s, _ in keys]
    if MNET_WEIGHTS.is_file():
        checkpoint = torch.load(MNET_WEIGHTS, map_location="cpu", weights_only=True)
        assert list(checkpoint) == [k for k, _, _ in keys]
        assert (
            hashlib.sha256(MNET_WEIGHTS.read_bytes()).hexdigest()
            == OmegaConf.load(REPO_ROOT / "conf/detector/retinaface_mnet.yaml").weights.sha256
        )


def test_retinaface_mnet_reproduces_robustforensics_boxes(parity_entries, realvideos):
    detector = RetinaFaceDetector(
        retinaface_mobilenet025(), {"path": str(MNET_WEIGHTS)}, keep_threshold=0.0, device="cpu", batch_size=8
    )
    mean = np.array(detector.mean_bgr, np.float32)
    worst = {"box": 0.0, "score": 0.0, "landmark": 0.0}
    for video in sorted({e["video"] for e in parity_entries}):
        entries = [e for e in parity_entries if e["video"] == video]
        with open_video(realvideos / video, "pyav") as reader:
            frames = reader.read([e["frame"] for e in entries])
        found = detector(frames)  # one batch per video: batching must not change the result
        for entry, frame, detections in zip(entries, frames, found, strict=True):
            where = f"{video}#{entry['frame']}"
            # PyAV decodes the same pixels as the reference's cv2.VideoCapture (checked for every entry).
            assert hashlib.md5(np.ascontiguousarray(frame[..., ::-1]).tobytes()).hexdigest() == entry["frame_bgr_md5"]
            network_input = detector.transform(frame[None], detector.mean_bgr, detector.device, torch.float32)
            resized = (network_input.images[0].permute(1, 2, 0).numpy() + mean).round().astype(np.uint8)
            assert list(resized.shape[:2]) == entry["resized_hw"], where
            assert hashlib.md5(resized.tobytes()).hexdigest() == entry["resized_bgr_md5"], where
            expected = np.array(entry["all_boxes"], np.float32).reshape(-1, 5)
            assert len(detections) == len(expected), where
            worst["box"] = max(worst["box"], np.abs(detections.boxes - expected[:, :4]).max(initial=0))
            worst["score"] = max(worst["score"], np.abs(detections.scores - expected[:, 4]).max(initial=0))
            landmarks = np.array(entry["all_landmarks"], np.float32).reshape(-1, 5, 2)
            worst["landmark"] = max(worst["landmark"], np.abs(detections.landmarks - landmarks).max(initial=0))
            kept = detections.filter(detections.scores >= 0.8)  # RobustForensics' vis_thres
            np.testing.assert_allclose(kept.boxes, np.array(entry["boxes"])[:, :4].reshape(-1, 4), atol=1.0)
    print(f"RetinaFace-mnet parity, largest differences: {worst}")
    assert worst["box"] <= 1.0 and worst["landmark"] <= 1.0 and worst["score"] <= 1e-3


def test_mnet_config_instantiates_with_the_real_weights(parity_entries):
    cfg = OmegaConf.load(REPO_ROOT / "conf/detector/retinaface_mnet.yaml")
    cfg.transform = OmegaConf.load(REPO_ROOT / "conf/detector/transform/short_side_400.yaml")
    cfg.weights.path = str(MNET_WEIGHTS)
    cfg.device = "cpu"
    del cfg["defaults"]
    detector = instantiate(cfg)
    frame = real_frame("dfdc/abofeumbvv.mp4", 0)
    found = detector(frame)[0]
    reference = next(e for e in parity_entries if e["video"] == "dfdc/abofeumbvv.mp4" and e["frame"] == 0)
    np.testing.assert_allclose(found.boxes, np.array(reference["boxes"])[:, :4], atol=1.0)
    assert detector.config["weights"]["sha256"] == cfg.weights.sha256


# --- DSFD ResNet-152 ----------------------------------------------------------------------------------------------


def test_dsfd_loads_the_reference_state_dict_and_runs_on_a_real_frame():
    keys = reference_keys("dsfd_res152.keys.txt")
    net = DSFD()
    assert [(k, list(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in net.state_dict().items()] == keys
    assert sum(p.numel() for p in net.parameters()) == 120_058_406  # dsfd_res152_summary.json
    state = state_dict_from_keys(keys)
    net.load_state_dict(state, strict=True)  # in memory: the file path is tested with RetinaFace-R50 (480 MB less)

    cfg = compose_config(None, ["+detector=dsfd"]).detector
    cfg.weights = None
    cfg.device = "cpu"
    cfg.transform = {"_target_": "src.faces.detectors.transforms.AreaResize", "area": 160 * 160}  # CPU time
    detector = instantiate(cfg, net=net)
    assert detector.net is net

    frame = real_frame()
    found = detector(np.concatenate([frame, frame]))
    assert len(found) == 2
    np.testing.assert_array_equal(found[0].boxes, found[1].boxes)
    assert found[0].landmarks is None
    assert np.isfinite(found[0].boxes).all() and ((found[0].scores > 0.3) & (found[0].scores <= 1)).all()
    assert detector.config["keep_threshold"] == 0.3 and detector.config["transform"]["name"] == "AreaResize"


# --- RetinaFace ResNet-50 -----------------------------------------------------------------------------------------


def r50_expected_keys() -> list[tuple[str, list[int], str]]:
    """biubug6's Resnet50_Final.pth layout: ``body.`` = torchvision ResNet-50 up to layer4 (no fc), then the mnet's
    FPN/SSH/head names with 256 instead of 64 channels and ResNet inputs (512/1024/2048 instead of 64/128/256)."""
    resnet = torchvision.models.resnet50(weights=None).state_dict()
    body = [(f"body.{k}", list(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in resnet.items()]
    body = [row for row in body if not row[0].startswith("body.fc.")]
    rest = []
    for key, shape, dtype in reference_keys("retinaface_mnet025.keys.txt"):
        if key.startswith("body."):
            continue
        shape = list(shape)
        if re.match(r"fpn\.output\d\.0\.weight", key):
            shape[:2] = [shape[0] * 4, shape[1] * 8]
        elif key.startswith(("ClassHead", "BboxHead", "LandmarkHead")):
            shape[1:2] = [shape[1] * 4] if len(shape) > 1 else []
        else:
            shape[:2] = [dim * 4 for dim in shape[:2]]
        rest.append((key, shape, dtype))
    return body + rest


def test_retinaface_r50_loads_the_public_layout_and_runs_on_a_real_frame(tmp_path):
    expected = r50_expected_keys()
    net = retinaface_resnet50()
    assert [(k, list(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in net.state_dict().items()] == expected
    checkpoint = tmp_path / "Resnet50_Final.pth"
    torch.save(state_dict_from_keys(expected, prefix="module."), checkpoint)  # saved from DataParallel

    detector = RetinaFaceDetector(
        net, {"path": str(checkpoint)}, name="retinaface_r50", transform=ShortSideResize(short_side=160), device="cpu"
    )
    found = detector(real_frame())
    assert len(found) == 1 and np.isfinite(found[0].boxes).all()
    assert found[0].landmarks.shape == (len(found[0]), 5, 2)
