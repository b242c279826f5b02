"""Released checkpoints → exported models: each original container (RobustForensics' training checkpoints from the
reference key lists, NTech's fp16 state dicts, Selim's DataParallel dicts) converts, the converted model gives the
logits of the network loaded from the original file, and one missing, extra or mis-shaped key is one error line
naming it. The download path runs on local files (file:// URLs, a stub for gdown's folder download)."""

from __future__ import annotations

import shutil

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from src.faces.detectors.weights import WeightsError
from src.models.convert import Release, ReleasedFile, build_net, convert_release, model_spec_of
from src.models.export import load_exported
from src.models.ntech.checkpoints import load_ntech_checkpoint
from src.models.release import download_release
from src.models.robustforensics.checkpoints import load_rf_checkpoint
from src.models.selim.checkpoints import load_selim_checkpoint
from src.models.selim.net import SelimClassifier
from tests.helpers import REPO_ROOT
from tests.release_helpers import layout_of, random_state, reference_layout, save_rf_checkpoint


def release(name: str) -> Release:
    cfg = OmegaConf.load(REPO_ROOT / "conf" / "release" / f"{name}.yaml")
    return instantiate(cfg)


def only(rel: Release, *names: str) -> Release:
    return Release(rel.name, rel.loader, [f for f in rel.files if f.name in names], rel.folder_url, rel.homepage)


def same_logits(direct: torch.nn.Module, exported_yaml, x: torch.Tensor) -> None:
    converted, _ = load_exported(exported_yaml)
    with torch.inference_mode():
        expected, actual = direct.eval()(x), converted(x)
    assert torch.isfinite(expected).all()
    torch.testing.assert_close(actual, expected, rtol=0, atol=0)


# --- RobustForensics: training checkpoints from the reference key lists ---------------------------------------------

RF_CASES = [  # (member, keys file, input)
    ("rf_b0", "rf_b0", (1, 3, 64, 64)),
    ("rf_res34", "rf_r34", (1, 3, 64, 64)),
    ("rf_xcp", "rf_xception", (1, 3, 71, 71)),
]


@pytest.mark.parametrize("member, keys, shape", RF_CASES)
def test_rf_checkpoint_converts_to_the_same_logits(member, keys, shape, tmp_path):
    rel = only(release("robustforensics"), member)
    (released,) = rel.files
    src = tmp_path / "src"
    src.mkdir()
    path = save_rf_checkpoint(src / released.file, random_state(reference_layout(keys)))
    (exported,) = convert_release(rel, src, tmp_path / "models")
    assert exported.name == f"{member}.yaml" and (tmp_path / "models" / f"{member}.safetensors").is_file()
    direct = build_net(model_spec_of(released))
    load_rf_checkpoint(path, direct)
    same_logits(direct, exported, torch.randn(shape, generator=torch.Generator().manual_seed(1)))
    assert OmegaConf.load(exported).source_file == released.file


@pytest.mark.slow
def test_rf_slowfast_checkpoint_converts_to_the_same_logits(tmp_path):
    rel = only(release("robustforensics"), "rf_sf3")
    (released,) = rel.files
    (tmp_path / "src").mkdir()
    path = save_rf_checkpoint(tmp_path / "src" / released.file, random_state(reference_layout("rf_slowfast50")))
    (exported,) = convert_release(rel, tmp_path / "src", tmp_path / "models")
    direct = build_net(model_spec_of(released))
    load_rf_checkpoint(path, direct)
    same_logits(direct, exported, torch.randn(1, 3, 8, 32, 32, generator=torch.Generator().manual_seed(1)))


def broken(state: dict[str, torch.Tensor], fault: str) -> tuple[dict[str, torch.Tensor], str]:
    """``state`` with one fault; returns it and the key the error must name."""
    state = dict(state)
    key = next(k for k in state if k.endswith("conv_head.weight") or k.endswith("_conv_head.weight"))
    if fault == "missing":
        del state[key]
    elif fault == "extra":
        key = key.replace("head.weight", "head.extra")
        state[key] = torch.zeros(1)
    else:
        state[key] = state[key][:-1]
    return state, key.split("module.")[-1]


@pytest.mark.parametrize("fault", ["missing", "extra", "shape"])
def test_rf_key_fault_is_one_line_naming_the_key(fault, tmp_path):
    rel = only(release("robustforensics"), "rf_b0")
    (tmp_path / "src").mkdir()
    state, key = broken(random_state(reference_layout("rf_b0")), fault)
    save_rf_checkpoint(tmp_path / "src" / rel.files[0].file, state)
    with pytest.raises(ValueError) as err:
        convert_release(rel, tmp_path / "src", tmp_path / "models")
    message = str(err.value)
    assert "\n" not in message and rel.files[0].file in message
    assert key.replace("_conv_head", "conv_head") in message or key in message
    assert not (tmp_path / "models" / "rf_b0.yaml").exists()


# --- NTech: fp16 state dicts in MODELS_PATH folders ------------------------------------------------------------------


@pytest.mark.slow
def test_ntech_fp16_frame_model_converts_to_the_same_logits(tmp_path):
    rel = only(release("ntech"), "ntech_large_crop")
    folder = tmp_path / "src" / "efficientnet-b7_ns_aa-original-mstd0.5_large_crop_100k_v4_cad79a"
    folder.mkdir(parents=True)
    path = folder / "snapshot_100000.fp16.pth"
    state = random_state(reference_layout("ntech_b7_frame"))
    torch.save({k: v.half() for k, v in state.items()}, path)  # copy_weights.py: every entry float16
    (exported,) = convert_release(rel, tmp_path / "src", tmp_path / "models")
    direct = build_net(model_spec_of(rel.files[0]))
    load_ntech_checkpoint(path, direct)
    same_logits(direct, exported, torch.randn(1, 1, 3, 64, 56, generator=torch.Generator().manual_seed(1)))


def test_ntech_extra_key_is_one_line_naming_it(tmp_path):
    rel = only(release("ntech"), "ntech_large_crop")
    folder = tmp_path / "src" / "x_large_crop_100k"
    folder.mkdir(parents=True)
    state = {k: torch.zeros(s, dtype=torch.float16) for k, s, _ in reference_layout("ntech_b7_frame")}
    state["_blocks.99._bn0.weight"] = torch.zeros(8, dtype=torch.float16)
    torch.save(state, folder / "snapshot_100000.fp16.pth")
    with pytest.raises(ValueError, match=r"snapshot_100000\.fp16\.pth.*_blocks\.99\._bn0\.weight"):
        convert_release(rel, tmp_path / "src", tmp_path / "models")


# --- Selim: DataParallel dicts; a B0 of the same naming scheme stands in for the B7 (size) --------------------------


def selim_release(tmp_path) -> tuple[Release, ReleasedFile]:
    """The conf's Selim release with its first file's network shrunk to tf_efficientnet_b0 (same key scheme as the
    B7: ``encoder.<timm keys>`` incl. ``encoder.classifier``, ``fc``); a 260 MB B7 is too big for a unit test."""
    rel = release("selim")
    first = rel.files[0]
    spec = dict(first.spec) | {"net": dict(first.spec["net"]) | {"model_name": "tf_efficientnet_b0"}}
    released = ReleasedFile(first.name, first.file, spec=spec, url=(tmp_path / "remote" / first.file).as_uri())
    return Release(rel.name, rel.loader, [released], None, rel.homepage), released


def save_selim_checkpoint(path, seed: int = 0, fault: str | None = None) -> tuple[dict, str | None]:
    torch.manual_seed(seed)
    state = random_state(layout_of(SelimClassifier("tf_efficientnet_b0").state_dict()), seed)
    key = None
    if fault:
        state, key = broken({f"encoder.{k}" if not k.startswith(("encoder.", "fc.")) else k: v
                             for k, v in state.items()}, fault)  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"epoch": 36, "state_dict": {f"module.{k}": v for k, v in state.items()}, "bce_best": 0.2}, path)
    return state, key


def test_selim_checkpoint_downloads_verifies_and_converts_to_the_same_logits(tmp_path, capsys):
    rel, released = selim_release(tmp_path)
    save_selim_checkpoint(tmp_path / "remote" / released.file)
    with pytest.raises(WeightsError, match=r"records no sha256.*trust_unverified=true"):
        download_release(rel, tmp_path / "downloads", progress=False)
    src = download_release(rel, tmp_path / "downloads", trust_unverified=True, progress=False)
    assert "UNVERIFIED, sha256" in capsys.readouterr().out
    assert released.file in (src / "SHA256SUMS").read_text()
    (exported,) = convert_release(rel, src, tmp_path / "models")
    direct = build_net(model_spec_of(released))
    load_selim_checkpoint(src / released.file, direct)
    same_logits(direct, exported, torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1)))


@pytest.mark.parametrize("fault", ["missing", "extra", "shape"])
def test_selim_key_fault_is_one_line_naming_the_key(fault, tmp_path):
    rel, released = selim_release(tmp_path)
    _, key = save_selim_checkpoint(tmp_path / "src" / released.file, fault=fault)
    with pytest.raises(ValueError) as err:
        convert_release(rel, tmp_path / "src", tmp_path / "models")
    assert "\n" not in str(err.value) and key in str(err.value) and released.file in str(err.value)


def test_drive_folder_download_and_missing_files(tmp_path, monkeypatch):
    """RobustForensics' Drive folder through gdown (stubbed to copy local files: no network in tests)."""
    import gdown

    rel = only(release("robustforensics"), "rf_b0")
    remote = tmp_path / "remote"
    remote.mkdir()
    save_rf_checkpoint(remote / rel.files[0].file, random_state(reference_layout("rf_b0")))
    calls = []

    def copy_folder(url, output, **kwargs):
        calls.append(url)
        return [shutil.copy(p, output) for p in remote.iterdir()]

    monkeypatch.setattr(gdown, "download_folder", copy_folder)
    src = download_release(rel, tmp_path / "downloads", trust_unverified=True, progress=False)
    assert calls == [rel.folder_url] and (src / rel.files[0].file).is_file()
    download_release(rel, tmp_path / "downloads", trust_unverified=True, progress=False)
    assert len(calls) == 1  # present: not fetched again
    with pytest.raises(FileNotFoundError, match="none of the 11 robustforensics files"):
        convert_release(release("robustforensics"), tmp_path / "remote" / "..", tmp_path / "models")
