"""Detector building blocks without real videos: sampling recipes, input transforms, priors, decoding, weights."""

from __future__ import annotations

import hashlib
import math
import pathlib

import cv2
import numpy as np
import pytest
import torch

from src.faces.detectors.dsfd import dsfd_priors
from src.faces.detectors.mtcnn import brighten
from src.faces.detectors.retinaface import RetinaFaceDetector, retinaface_priors
from src.faces.detectors.retinaface_net import retinaface_mobilenet025
from src.faces.detectors.torch_detector import decode_boxes, fuse_batchnorm, resolve_device
from src.faces.detectors.transforms import AreaResize, LongSideResizePad, ShortSideResize
from src.faces.detectors.weights import WeightsFile, drive_confirmation_url, fetch, load_state_dict
from src.utils.weights import WeightsError
from src.video.io import VideoInfo, open_video
from src.video.sampling import AtMostN, EvenlySpaced, EveryNth, FpsStride
from tests.helpers import REALVIDEOS, default_detector


def info(num_frames: int = 300, fps: float = 29.97, width: int = 1920, height: int = 1080) -> VideoInfo:
    return VideoInfo("x.mp4", num_frames, fps, width, height, 0, "h264", "yuv420p")


# --- sampling -------------------------------------------------------------------------------------------------------


def test_sampling_recipes_of_both_seeds():
    assert EveryNth(6)(info()).tolist() == list(range(0, 300, 6))  # NTech training: 50 frames
    assert EveryNth(6, max_count=3)(info()).tolist() == [0, 6, 12]
    assert len(EveryNth(1)(info())) == 300  # RobustForensics training: every frame
    assert AtMostN(160)(info()).tolist() == list(range(0, 300, 2))  # RobustForensics inference: 150 frames
    assert AtMostN(160)(info(num_frames=100)).tolist() == list(range(100))
    assert AtMostN(160)(info(num_frames=321)).tolist() == list(range(0, 321, 3))
    # NTech prediction: int(29.97)=29 -> stride round(29/15)=2, every 3rd of those = every 6th frame
    assert FpsStride()(info()).tolist() == list(range(0, 300, 6))
    assert FpsStride()(info(fps=15.0)).tolist() == list(range(0, 300, 3))
    assert FpsStride()(info(fps=5.0)).tolist() == list(range(0, 300, 3))  # NTech would give up (stride 0)
    even = EvenlySpaced(5)(info(num_frames=101))
    assert even.tolist() == [0, 25, 50, 75, 100]
    assert EvenlySpaced(50)(info(num_frames=10)).tolist() == list(range(10))
    assert EveryNth(6).config == {"name": "EveryNth", "step": 6, "start": 0, "max_count": None}


def test_sampling_rejects_nonsense():
    with pytest.raises(ValueError, match="step >= 1"):
        EveryNth(0)
    with pytest.raises(ValueError, match="max_frames >= 1"):
        AtMostN(0)


# --- input transforms ------------------------------------------------------------------------------------------------


def test_transforms_reproduce_both_seeds_input_sizes():
    frames = np.random.default_rng(0).integers(0, 256, (2, 1080, 1920, 3), dtype=np.uint8)
    mean = (104.0, 117.0, 123.0)
    cpu = torch.device("cpu")
    rf = ShortSideResize()(frames, mean, cpu, torch.float32)
    assert rf.images.shape == (2, 3, 400, 711) and rf.size == (400, 711)
    assert rf.factor == pytest.approx(400 / 1080)
    # BGR order, mean subtracted, on the uint8 resize (RobustForensics' recipe)
    expected = cv2.resize(frames[0][..., ::-1].copy(), None, fx=rf.factor, fy=rf.factor, interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(rf.images[0].permute(1, 2, 0).numpy(), expected.astype(np.float32) - mean)
    assert ShortSideResize(max_long_side=600).factor(1080, 1920) == pytest.approx(600 / 1920)

    ntech = AreaResize()(frames, mean, cpu, torch.float32)
    assert ntech.images.shape == (2, 3, 384, 683)  # dsfd_res152_summary.json: network input 384x683
    assert ntech.factor == pytest.approx(math.sqrt(512 * 512 / (1080 * 1920)))

    predict = LongSideResizePad()(frames[:, :1000], mean, cpu, torch.float32)  # 1000x1920 -> 267x512, pad to 288
    assert predict.size == (266, 512) and predict.images.shape == (2, 3, 288, 512)
    assert torch.all(predict.images[:, :, 266:] == 0)
    assert LongSideResizePad()(frames, mean, cpu, torch.float32).images.shape == (2, 3, 288, 512)


# --- priors and decoding ---------------------------------------------------------------------------------------------


def test_prior_counts_match_the_reference_networks():
    assert len(retinaface_priors((400, 711), (400, 711))) == 11748  # retinaface_mnet_parity.json num_priors
    ntech_train = [(96, 171), (48, 86), (24, 43), (12, 22), (6, 11), (3, 6)]
    assert len(dsfd_priors(ntech_train, (384, 683))) == 21924  # dsfd_res152_summary.json
    priors = dsfd_priors([(72, 128), (36, 64), (18, 32), (9, 16), (5, 8), (3, 4)], (288, 512))
    assert len(priors) == 12292
    assert priors.min() >= 0 and priors.max() <= 1  # clipped
    first = priors[0].tolist()
    assert first == pytest.approx([2 / 512, 2 / 288, 16 / 512 / math.sqrt(1.5), 16 / 288 * math.sqrt(1.5)])


def test_retinaface_priors_follow_the_recipe():
    priors = retinaface_priors((17, 33), (17, 33))
    # level stride 8: 3 x 5 cells, 2 sizes each, row-major, sizes innermost
    expected = [[4, 4, 16, 16], [4, 4, 32, 32], [12, 4, 16, 16], [12, 4, 32, 32]]
    np.testing.assert_allclose(priors[:4].numpy(), np.array(expected) / [33, 17, 33, 17], rtol=1e-6)
    assert len(priors) == 2 * (3 * 5 + 2 * 3 + 1 * 2)


def test_decode_is_ssd_centre_size_decoding():
    priors = torch.tensor([[0.5, 0.5, 0.2, 0.4]])
    assert decode_boxes(torch.zeros(1, 4), priors, (0.1, 0.2))[0].tolist() == pytest.approx([0.4, 0.3, 0.6, 0.7])
    moved = decode_boxes(torch.tensor([[1.0, 0.0, 0.0, math.log(2) / 0.2]]), priors, (0.1, 0.2))
    assert moved[0].tolist() == pytest.approx([0.42, 0.1, 0.62, 0.9])


# --- devices ---------------------------------------------------------------------------------------------------------


def test_device_and_fp16_errors_are_one_line():
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert resolve_device("auto").type == "cpu"
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_device("cuda")
        with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
            RetinaFaceDetector(retinaface_mobilenet025(), device="cpu", fp16=True)


# --- weights -------------------------------------------------------------------------------------------------------


@pytest.fixture
def checkpoint(tmp_path) -> tuple[pathlib.Path, str]:
    net = torch.nn.Linear(3, 2)
    path = tmp_path / "source" / "net.pth"
    path.parent.mkdir()
    torch.save({f"module.{k}": v for k, v in net.state_dict().items()}, path)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_load_state_dict_strips_dataparallel_prefix(checkpoint):
    state = load_state_dict(checkpoint[0])
    assert sorted(state) == ["bias", "weight"]


def test_load_refuses_pickled_objects(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"net": torch.nn.Linear(1, 1)}, path)  # a module, not tensors: needs full unpickling
    with pytest.raises(WeightsError, match=r"evil\.pth"):
        load_state_dict(path)


def test_missing_weights_name_the_file_and_the_fetch_command(tmp_path):
    spec = {"path": str(tmp_path / "missing.pth"), "url": "https://example.invalid/x.pth", "sha256": None}
    with pytest.raises(WeightsError) as error:
        RetinaFaceDetector(retinaface_mobilenet025(), weights=spec, name="retinaface_mnet", device="cpu")
    message = str(error.value)
    assert "missing.pth" in message and "make weights DETECTOR=retinaface_mnet" in message
    assert "\n" not in message


def test_wrong_checkpoint_is_one_clear_line(checkpoint):
    with pytest.raises(WeightsError, match=r"net.pth: does not fit RetinaFace: 300 missing keys"):
        RetinaFaceDetector(retinaface_mobilenet025(), weights={"path": str(checkpoint[0])}, device="cpu")


def test_fetch_verifies_the_checksum(checkpoint, tmp_path):
    source, digest = checkpoint
    target = tmp_path / "weights" / "net.pth"
    spec = WeightsFile(str(target), source.as_uri(), digest, detector="x")
    assert fetch(spec, progress=False) == target
    assert target.read_bytes() == source.read_bytes()
    assert fetch(spec, progress=False) == target  # present and verified: nothing to do

    bad = WeightsFile(str(tmp_path / "bad.pth"), source.as_uri(), "0" * 64, detector="x")
    with pytest.raises(WeightsError, match="differs from the expected"):
        fetch(bad, progress=False)
    assert not (tmp_path / "bad.pth").exists()
    assert not list(tmp_path.glob(".tmp-*"))


def test_fetch_refuses_unverifiable_files_unless_trusted(checkpoint, tmp_path, capsys):
    source, digest = checkpoint
    spec = WeightsFile(str(tmp_path / "w.pth"), source.as_uri(), None, detector="dsfd")
    with pytest.raises(WeightsError, match=r"records no sha256.*trust_unverified"):
        fetch(spec, progress=False)
    assert not (tmp_path / "w.pth").exists()
    fetch(spec, trust_unverified=True, progress=False)
    assert digest in capsys.readouterr().out


def test_fetch_falls_back_to_mirrors(checkpoint, tmp_path):
    source, digest = checkpoint
    spec = WeightsFile(str(tmp_path / "w.pth"), (tmp_path / "gone.pth").as_uri(), digest, (source.as_uri(),), "x")
    assert fetch(spec, progress=False).read_bytes() == source.read_bytes()


DRIVE_PAGE = """<!DOCTYPE html><html><body><p>Google Drive can't scan this file for viruses.</p>
<form id="download-form" action="{action}" method="get">
<input type="submit" value="Download anyway"/><input type="hidden" name="id" value="abc"/>
<input type="hidden" name="export" value="download"/><input type="hidden" name="confirm" value="t"/>
<input type="hidden" name="uuid" value="u-1"/></form></body></html>"""


def test_google_drive_confirmation_page_is_followed(checkpoint, tmp_path):
    source, digest = checkpoint
    # The confirmed URL is the form's action plus its hidden fields; a file:// URL keeps the query in the file name.
    served = tmp_path / "served.pth"
    page = tmp_path / "page.html"
    page.write_text(DRIVE_PAGE.format(action=served.as_uri()))
    confirmed = drive_confirmation_url(page.read_text(), page.as_uri())
    assert confirmed == f"{served.as_uri()}?id=abc&export=download&confirm=t&uuid=u-1"
    pathlib.Path(str(served) + "?id=abc&export=download&confirm=t&uuid=u-1").write_bytes(source.read_bytes())
    target = tmp_path / "w.pth"
    assert fetch(WeightsFile(str(target), page.as_uri(), digest, detector="x"), progress=False) == target
    assert target.read_bytes() == source.read_bytes()


def test_legacy_drive_confirm_token_and_plain_error_page(tmp_path):
    page = '<html><a href="/uc?export=download&amp;confirm=Ab_9&amp;id=abc">Download anyway</a></html>'
    assert drive_confirmation_url(page, "https://drive.google.com/uc?export=download&id=abc").endswith("&confirm=Ab_9")
    quota = tmp_path / "quota.html"
    quota.write_text("<!DOCTYPE html><html><body>Too many users have viewed or downloaded this file</body></html>")
    with pytest.raises(WeightsError, match=r"every source failed.*web page"):
        fetch(WeightsFile(str(tmp_path / "w.pth"), quota.as_uri(), "0" * 64, detector="x"), progress=False)


# --- the default detector on embedded images ---------------------------------------------------------------------


def test_mtcnn_finds_the_astronaut_and_nothing_in_a_blank_frame():
    import skimage.data

    astronaut = skimage.data.astronaut()  # 512x512 RGB, one face
    blank = np.full_like(astronaut, 128)
    dark = (astronaut * 0.15).astype(np.uint8)  # a dim room: brightened before detection
    detector = default_detector()
    found = detector(np.stack([astronaut, blank, dark]))
    assert [len(f) for f in found] == [1, 0, 1]
    x1, y1, x2, y2 = found[0].boxes[0]
    assert 160 < x1 < x2 < 290 and 40 < y1 < y2 < 200  # her face, in source pixels
    assert found[0].landmarks.shape == (1, 5, 2) and found[1].landmarks.shape == (0, 5, 2)
    assert np.abs(found[2].boxes - found[0].boxes).max() < 10
    assert detector.config["name"] == "mtcnn" and detector.config["max_size"] == 640


def _facenet_and_cascade(detector, frames: np.ndarray):
    """facenet-pytorch's own ``detect`` (the reference) and this project's cascade on the same uint8 frames."""
    with torch.inference_mode():
        boxes, scores, points = detector.mtcnn.detect(torch.from_numpy(frames), landmarks=True)
        ours = detector.cascade(torch.from_numpy(frames))
    reference = []
    for b, s, p in zip(boxes, scores, points, strict=True):
        if b is None:
            reference.append((np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32)))
            continue
        order = np.argsort(-np.asarray(s, np.float64), kind="stable")
        reference.append((np.asarray(b, np.float32)[order], np.asarray(s, np.float32)[order],
                          np.asarray(p, np.float32)[order]))  # fmt: skip
    return reference, ours


def _box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lo, hi = np.maximum(a[:, :2], b[:, :2]), np.minimum(a[:, 2:], b[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    area = lambda x: np.prod(x[:, 2:] - x[:, :2], axis=1)  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def _assert_same_faces(reference, ours) -> list[float]:
    """Same faces per frame, in score order; returns every box's largest coordinate difference (pixels)."""
    differences = []
    for (boxes, scores, points), faces in zip(reference, ours, strict=True):
        assert len(faces.boxes) == len(boxes)
        if len(boxes):
            np.testing.assert_allclose(faces.scores, scores, atol=1e-3)
            assert _box_iou(faces.boxes, boxes).min() > 0.9
            differences += np.abs(faces.boxes - boxes).max(axis=1).tolist()
            assert faces.landmarks.shape == points.shape
    return differences


def test_mtcnn_cascade_equals_facenet_pytorch_detect_on_embedded_images():
    """The batched cascade (integral-image crops, channels-last nets) keeps facenet-pytorch's algorithm: the same
    faces, boxes and landmarks on one face, a dim copy, a blank frame, a face cut by the frame border and two faces."""
    import skimage.data

    astronaut = skimage.data.astronaut()
    dark = (astronaut * 0.3).astype(np.uint8)
    border = np.roll(astronaut, -200, axis=1)  # her face at the left edge, partly outside
    pair = cv2.resize(np.concatenate([astronaut, astronaut[:, ::-1]], axis=1), (512, 256))
    pair = np.concatenate([pair, np.zeros_like(pair)], axis=0)
    detector = default_detector()
    frames = np.stack([astronaut, dark, np.full_like(astronaut, 128), border, pair])
    reference, ours = _facenet_and_cascade(detector, frames)
    assert [len(f.boxes) for f in ours][:3] == [1, 1, 0] and len(ours[4].boxes) >= 2
    differences = _assert_same_faces(reference, ours)
    assert max(differences) < 0.05
    np.testing.assert_allclose(ours[0].landmarks, reference[0][2], atol=0.05)


@pytest.mark.skipif(not REALVIDEOS.is_dir(), reason=f"research videos not found at {REALVIDEOS}")
def test_mtcnn_cascade_equals_facenet_pytorch_detect_on_real_videos():
    """Four frames of every research video, downscaled and brightened as the detector does: the same faces in every
    frame; almost every box within half a pixel (a box whose crop rectangle rounds to the other integer pixel may
    move by a few pixels, as float sums differ in the last bit)."""
    detector = default_detector()
    differences = []
    for video in sorted(REALVIDEOS.rglob("*.mp4")):
        with open_video(video, "pyav") as reader:
            frames = reader.read([i for i in (0, 33, 66, 99) if i < len(reader)])
        height, width = frames[0].shape[:2]
        factor = min(1.0, 640 / max(height, width))
        size = (round(width * factor), round(height * factor))
        small = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames])
        differences += _assert_same_faces(*_facenet_and_cascade(detector, brighten(small, 130.0, 4.0)))
    assert len(differences) > 50 and np.mean(np.asarray(differences) < 0.5) > 0.95


def test_batchnorm_folding_keeps_outputs_and_leaves_the_loaded_net_alone():
    torch.manual_seed(0)
    inner = torch.nn.Sequential(torch.nn.Conv2d(8, 4, 1, bias=False), torch.nn.BatchNorm2d(4))
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.LeakyReLU(0.1), inner)
    for bn in (net[1], inner[1]):  # trained-looking statistics, not the identity
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.data.uniform_(0.5, 2)
    net.eval()
    keys = list(net.state_dict())
    fused = fuse_batchnorm(net)
    x = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(fused(x), net(x), atol=1e-5, rtol=1e-5)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    assert list(net.state_dict()) == keys and isinstance(net[1], torch.nn.BatchNorm2d)
    detector = RetinaFaceDetector(retinaface_mobilenet025(), device="cpu")
    assert detector.inference_net is not detector.net
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in detector.inference_net.modules())


def test_mtcnn_cascade_summed_area_tables_agree_on_every_path():
    """The CUDA path's cumulative sums (run here on the CPU) equal OpenCV's tables, narrow and wide."""
    from src.faces.detectors.mtcnn_cascade import _integral

    frames = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (2, 37, 53, 3), dtype=np.uint8))
    opencv, torch_sums = _integral(frames), _integral(frames, opencv=False)
    assert opencv.dtype == torch_sums.dtype == torch.int32
    assert torch.equal(opencv, torch_sums) and int(opencv[1, -1, -1, 2]) == int(frames[1, ..., 2].sum())
    wide = torch.full((1, 3000, 3000, 3), 255, dtype=torch.uint8)  # a frame sum past int32
    assert int(_integral(wide)[0, -1, -1, 0]) == int(_integral(wide, opencv=False)[0, -1, -1, 0]) == 255 * 3000**2


def test_brighten_scales_only_dark_content_and_ignores_black_borders():
    frame = np.zeros((40, 60, 3), np.uint8)
    frame[10:30, 20:40] = 50  # dim content on a black canvas: its own mean is 50, the frame's ~8
    bright = np.full((40, 60, 3), 200, np.uint8)
    blank = np.zeros((40, 60, 3), np.uint8)
    frames = np.stack([frame, bright, blank])
    out = brighten(frames, 130.0, max_gain=4.0)
    assert out[0, 20, 30, 0] == int(50 * np.float32(130 / 50)) and out[0, 0, 0, 0] == 0  # gain 2.6, not 16
    np.testing.assert_array_equal(out[1:], frames[1:])
    untouched = frames[1:]
    assert brighten(untouched, 130.0) is untouched  # nothing to brighten: no copy
    assert brighten(frame[None] // 5 * 2, 130.0, max_gain=4.0)[0, 20, 30, 0] == 80  # content 20: capped at x4


def test_mtcnn_maps_downscaled_boxes_back_to_source_pixels():
    import skimage.data

    astronaut = skimage.data.astronaut()
    big = cv2.resize(astronaut, (1536, 1536), interpolation=cv2.INTER_CUBIC)  # 3x; detection runs at 640
    small_box = default_detector()(astronaut[None])[0].boxes[0]
    big_box = default_detector()(big[None])[0].boxes[0]
    np.testing.assert_allclose(big_box / 3, small_box, atol=6)


def test_detectors_take_lists_of_frames_as_they_take_arrays():
    """Decoded frames reach the built-in detectors as the decoder's list (no stacking copy); a detector that only
    knows arrays gets them stacked; frames of different sizes or types are one clear error."""
    import skimage.data

    from src.faces.detectors.base import FaceDetector, FrameDetections

    astronaut = skimage.data.astronaut()
    frames = [astronaut, np.ascontiguousarray(astronaut[:, ::-1]), np.full_like(astronaut, 128)]
    detector = default_detector()
    assert detector.takes_frame_lists
    for listed, stacked in zip(detector(frames), detector(np.stack(frames)), strict=True):
        np.testing.assert_array_equal(listed.boxes, stacked.boxes)
        np.testing.assert_array_equal(listed.scores, stacked.scores)

    torch.manual_seed(0)  # RetinaFace (random weights, a low threshold so that boxes come out) and its transform
    retina = RetinaFaceDetector(retinaface_mobilenet025(), device="cpu", confidence_threshold=0.01)
    for listed, stacked in zip(retina(frames), retina(np.stack(frames)), strict=True):
        np.testing.assert_array_equal(listed.boxes, stacked.boxes)

    class ArraysOnly(FaceDetector):
        def detect(self, batch):
            assert isinstance(batch, np.ndarray) and batch.shape == (3, *astronaut.shape)
            return [FrameDetections.empty() for _ in batch]

    assert len(ArraysOnly()(frames)) == 3 and ArraysOnly()([]) == []
    with pytest.raises(ValueError, match="of one size"):
        detector([astronaut, astronaut[:100]])
    with pytest.raises(ValueError, match="uint8"):
        detector([astronaut.astype(np.float32)])
