"""RobustForensics networks against the seed's reference state dicts (../shared/spec/reference)."""

from __future__ import annotations

import ast
from collections import OrderedDict
from pathlib import Path

import pytest
import timm
import torch

from src.models.efficientnet_keys import lukemelas_to_timm, stage_depths
from src.models.robustforensics import nets as rf_nets
from src.models.robustforensics.checkpoints import load_rf_checkpoint, read_state_dict
from src.models.robustforensics.slowfast import slowfast_r50
from src.models.static_padding import StaticSameConv2d
from tests.helpers import reference_keys, reference_rows

EFFICIENTNETS = {"b0": 224, "b1": 240, "b3": 300}  # lukemelas nominal sizes


def reference_keymap(variant: str) -> dict[str, str]:
    return dict(reference_rows(f"rf_infer_{variant}_to_timm.keymap.tsv"))


def layout(state: dict[str, torch.Tensor]) -> list[tuple[str, list[int], str]]:
    return [(k, list(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in state.items()]


def seed_checkpoint(path: Path, keys_file: str, step: int = 58000) -> OrderedDict:
    """A file in the seed's container format with random tensors of the reference key list's names and shapes."""
    generator = torch.Generator().manual_seed(0)
    state = OrderedDict()
    for key, shape, dtype in reference_keys(keys_file):
        if dtype == "int64":
            state[key] = torch.tensor(step, dtype=torch.int64)
        else:
            state[key] = torch.rand(shape, generator=generator) + 0.5  # positive: valid BN running_var
    optimizer_state = {"state": {0: {"momentum_buffer": torch.zeros(3)}}, "param_groups": [{"lr": 0.03, "params": [0]}]}
    torch.save(
        {"step": step, "arch": keys_file, "state_dict": state, "best_loss": 0.3, "optimizer": optimizer_state}, path
    )
    return state


def test_slowfast_matches_the_seeds_state_dict_exactly() -> None:
    net = slowfast_r50()
    assert layout(net.state_dict()) == reference_keys("rf_infer_slowfast50.keys.txt")  # names, shapes, order
    training = [(k.removeprefix("module."), s, d) for k, s, d in reference_keys("rf_slowfast50.keys.txt")]
    assert layout(net.state_dict()) == training
    assert sum(p.numel() for p in net.parameters()) == 33_561_898


def test_slowfast_pathways_and_head() -> None:
    net = slowfast_r50().eval()
    clip = torch.randn(1, 3, 32, 64, 64)
    shapes = {}

    def record(name: str, take_input: bool = False):
        def hook(module, inputs, output) -> None:
            shapes[name] = tuple((inputs[0] if take_input else output).shape)

        return hook

    net.Tconv1.register_forward_hook(record("lateral1"))
    net.slow_res1.register_forward_hook(record("slow_res1_in", take_input=True))
    net.fast_res4.register_forward_hook(record("fast_out"))
    with torch.no_grad():
        features = net.forward_features(clip)
        logits = net(clip)
    assert features.shape == (1, 2304) and logits.shape == (1, 2)
    assert shapes["lateral1"] == (1, 16, 8, 16, 16)  # fast 32 frames → lateral stride 4 → 8 = slow frames
    assert shapes["slow_res1_in"] == (1, 64 + 16, 8, 16, 16)
    assert shapes["fast_out"][2] == 32  # no temporal striding on the fast path


@pytest.mark.parametrize(
    ("model_name", "keys_file"), [("resnet34", "rf_infer_r34"), ("legacy_xception", "rf_infer_xception")]
)
def test_timm_layouts_equal_the_seeds(model_name: str, keys_file: str) -> None:
    net = timm.create_model(model_name, num_classes=2)
    assert sorted(layout(net.state_dict())) == sorted(reference_keys(f"{keys_file}.keys.txt"))


@pytest.mark.parametrize("variant", sorted(EFFICIENTNETS))
def test_efficientnet_key_map_and_padding(variant: str) -> None:
    net = rf_nets.efficientnet(f"tf_efficientnet_{variant}", EFFICIENTNETS[variant], drop_rate=0.2)
    original = [k for k, _, _ in reference_keys(f"rf_infer_{variant}.keys.txt")]
    assert lukemelas_to_timm(original, stage_depths(net)) == reference_keymap(variant)
    # Every conv's padding equals the seed's static padding table at 299 input.
    timm_module = {k.rsplit(".", 1)[0]: v.rsplit(".", 1)[0] for k, v in reference_keymap(variant).items()}
    for module_name, _, _, static_pad, *_ in reference_rows(f"rf_infer_{variant}.padding.txt"):
        conv = net.get_submodule(timm_module[module_name])
        pad = conv.static_pad if isinstance(conv, StaticSameConv2d) else (conv.padding[1],) * 2 + (conv.padding[0],) * 2
        assert pad == ast.literal_eval(static_pad), module_name
    with torch.no_grad():
        assert net.eval().forward_features(torch.zeros(1, 3, 299, 299)).shape[-2:] == (9, 9)  # timm alone: 10×10
    assert net.bn1.momentum == 0.01 and net.bn1.eps == 1e-3
    # drop-connect 0.2 × block index / number of blocks, as lukemelas' `_blocks[i]`.
    depths = stage_depths(net)
    assert net.blocks[1][0].drop_path.drop_prob == pytest.approx(0.2 * depths[0] / sum(depths))


@pytest.mark.parametrize(
    ("keys_file", "build"),
    [
        ("rf_b0.keys.txt", lambda: rf_nets.efficientnet("tf_efficientnet_b0", 224, 0.2)),
        ("rf_xception.keys.txt", lambda: rf_nets.timm_classifier("legacy_xception")),
        ("rf_slowfast50.keys.txt", rf_nets.slowfast),
    ],
)
def test_seed_checkpoint_container_loads(tmp_path: Path, keys_file: str, build) -> None:
    path = tmp_path / "ckpt_iter_58000.pth.tar"
    saved = seed_checkpoint(path, keys_file)
    net = build()
    assert load_rf_checkpoint(path, net) == []
    ours = net.state_dict()
    loaded = read_state_dict(path)
    names = lukemelas_to_timm(loaded, stage_depths(net)) if "_conv_stem.weight" in loaded else {k: k for k in loaded}
    assert len(loaded) == len(saved) == len(ours)
    for key, value in loaded.items():
        torch.testing.assert_close(ours[names[key]], value, rtol=0, atol=0)


def test_init_checkpoints_keep_the_new_classifier(tmp_path: Path) -> None:
    # An ImageNet init in lukemelas names with a 1000-way _fc, as the seed's efficientnet-b0-355c32eb.pth.
    reference = rf_nets.efficientnet("tf_efficientnet_b0", 224, 0.2)
    inverse = {v: k for k, v in lukemelas_to_timm(reference_keymap("b0"), stage_depths(reference)).items()}
    state = {inverse[k]: torch.randn_like(v.float()).to(v.dtype) for k, v in reference.state_dict().items()}
    state["_fc.weight"], state["_fc.bias"] = torch.randn(1000, 1280), torch.randn(1000)
    torch.save(state, tmp_path / "efficientnet-b0.pth")
    net = rf_nets.efficientnet("tf_efficientnet_b0", 224, 0.2, init_path=str(tmp_path / "efficientnet-b0.pth"))
    assert net.classifier.weight.shape == (2, 1280)
    torch.testing.assert_close(net.conv_stem.weight, state["_conv_stem.weight"])
    with pytest.raises(ValueError, match=r"efficientnet-b0\.pth: classifier\.(weight|bias) has shape \[1000"):
        load_rf_checkpoint(tmp_path / "efficientnet-b0.pth", net)  # strict outside init mode

    # Cadene's Xception init stores pointwise weights as 2-D matrices.
    xception = timm.create_model("legacy_xception", num_classes=2)
    cadene = {k: (v[:, :, 0, 0] if "pointwise" in k else v) for k, v in xception.state_dict().items()}
    cadene["fc.weight"], cadene["fc.bias"] = torch.randn(1000, 2048), torch.randn(1000)
    torch.save(cadene, tmp_path / "xception-b5690688.pth")
    loaded = rf_nets.timm_classifier("legacy_xception", init_path=str(tmp_path / "xception-b5690688.pth"))
    torch.testing.assert_close(loaded.block1.rep[0].pointwise.weight, xception.block1.rep[0].pointwise.weight)


def test_unreadable_and_mismatched_checkpoints_fail_with_one_clear_line(tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.pth.tar"
    truncated.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match=r"truncated\.pth\.tar: cannot read weights"):
        read_state_dict(truncated)
    with pytest.raises(FileNotFoundError, match=r"missing\.pth: weights file not found"):
        read_state_dict(tmp_path / "missing.pth")
    torch.save(slowfast_r50().state_dict(), tmp_path / "sf.pth")
    with pytest.raises(ValueError, match=r"sf\.pth: does not fit ResNet: 216 missing keys") as err:
        load_rf_checkpoint(tmp_path / "sf.pth", timm.create_model("resnet34", num_classes=2))
    assert "\n" not in str(err.value)
