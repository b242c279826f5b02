"""NTech networks against the reference dumps of the original code (../shared/spec/reference)."""

from __future__ import annotations

import ast
import re

import pytest
import timm
import torch
from safetensors.torch import save_file
from timm.layers import Conv2dSame
from torch import nn

from src.models.backbones import create_backbone
from src.models.efficientnet_keys import lukemelas_to_timm, stage_depths
from src.models.export import export_ntech_release, load_exported
from src.models.ntech.checkpoints import load_ntech_checkpoint, ntech_to_ours
from src.models.ntech.net import ntech_efficientnet
from src.models.ntech.sequence import TemporalConv
from src.models.static_padding import StaticSameConv2d, freeze_same_padding, same_pad
from src.utils.weights import sha256sum
from tests.helpers import reference_rows


def reference_shapes(name: str) -> dict[str, list[int]]:
    return {key: ast.literal_eval(shape) for key, shape, _ in reference_rows(name)}


def effective_pad(conv: nn.Conv2d, input_hw: tuple[int, int]) -> tuple[int, ...]:
    """(left, right, top, bottom) zero padding a conv really applies to an input of ``input_hw``."""
    if isinstance(conv, StaticSameConv2d):
        return conv.static_pad
    if isinstance(conv, Conv2dSame):
        top, bottom = same_pad(input_hw[0], conv.kernel_size[0], conv.stride[0], conv.dilation[0])
        left, right = same_pad(input_hw[1], conv.kernel_size[1], conv.stride[1], conv.dilation[1])
        return left, right, top, bottom
    return (conv.padding[1],) * 2 + (conv.padding[0],) * 2


# padding table, keys of the same network, how we build it, input (H, W)
PADDING_CASES = {
    "ntech_224x192_faithful": ("ntech_b7_seq_224x192", "ntech_b7_seq", "b7", 600, (224, 192)),
    "ntech_224x192_timm": ("ntech_b7_seq_224x192", "ntech_b7_seq", "b7", None, (224, 192)),  # model=b7_seq
    "ntech_380_faithful": ("ntech_b7_seq_380", "ntech_b7_seq", "b7", 600, (380, 380)),  # model=b7_seq_380
    "ntech_416_faithful": ("ntech_b7_seq_416", "ntech_b7_seq", "b7", 600, (416, 416)),
    "ntech_416_timm": ("ntech_b7_seq_416", "ntech_b7_seq", "b7", None, (416, 416)),  # model=b7_seq_416
    "rf_b0_299": ("rf_infer_b0", "rf_infer_b0", "b0", 224, (299, 299)),
    "rf_b1_299": ("rf_infer_b1", "rf_infer_b1", "b1", 240, (299, 299)),
    "rf_b3_299": ("rf_infer_b3", "rf_infer_b3", "b3", 300, (299, 299)),
}


@pytest.mark.parametrize("case", PADDING_CASES)
def test_every_conv_pads_like_efficientnet_pytorch(case: str) -> None:
    table, keys_file, variant, nominal, input_hw = PADDING_CASES[case]
    rows = reference_rows(f"{table}.padding.txt")
    keys = [key for key, *_ in reference_rows(f"{keys_file}.keys.txt")]
    with torch.device("meta"):  # shapes only: no weights, no arithmetic
        net = timm.create_model(f"tf_efficientnet_{variant}")
        if nominal is not None:
            freeze_same_padding(net, nominal)
    names = lukemelas_to_timm(keys, stage_depths(net))
    seen = {}
    for name, module in net.named_modules():
        if isinstance(module, nn.Conv2d):
            module.register_forward_pre_hook(lambda m, args, name=name: seen.update({name: args[0].shape[-2:]}))
    net(torch.empty(1, 3, *input_hw, device="meta"))
    listed = {names[f"{row[0]}.weight"].removesuffix(".weight"): row for row in rows}
    # NTech's tables leave out the expansion convs: Conv3d in the sequence model, 1×1 without padding in any case.
    unlisted = set(seen) - set(listed)
    assert len(unlisted) == (51 if table.startswith("ntech") else 0)
    assert all(name.endswith(".conv_pw") and net.get_submodule(name).kernel_size == (1, 1) for name in unlisted)
    for ours, (module, kernel, stride, static_pad, hw, _, _) in listed.items():
        conv = net.get_submodule(ours)
        assert (conv.kernel_size, conv.stride) == (ast.literal_eval(kernel), ast.literal_eval(stride)), module
        assert tuple(seen[ours]) == ast.literal_eval(hw), module
        assert effective_pad(conv, seen[ours]) == ast.literal_eval(static_pad), module


def test_timm_dynamic_padding_differs_at_380_exactly_where_the_reference_says() -> None:
    rows = reference_rows("ntech_b7_seq_380.padding.txt")
    differs = sorted(module for module, *_, flag in rows if flag == "True")
    assert differs == ["_blocks.11._depthwise_conv", "_blocks.18._depthwise_conv", "_blocks.38._depthwise_conv"]
    with torch.device("meta"):
        faithful, timm_padded = (ntech_efficientnet(nominal_size=n, seq_length=None) for n in (600, None))
    shapes = [
        net.backbone.forward_features(torch.empty(1, 3, 380, 380, device="meta")).shape
        for net in (faithful, timm_padded)
    ]
    assert [s[-1] for s in shapes] == [11, 12]


@pytest.mark.parametrize("keys_file, seq_length", [("ntech_b7_seq.keys.txt", 7), ("ntech_b7_frame.keys.txt", None)])
def test_released_fp16_checkpoint_loads_strictly(tmp_path, keys_file: str, seq_length: int | None) -> None:
    shapes = reference_shapes(keys_file)
    generator = torch.Generator().manual_seed(0)
    # The release format: every entry float16, num_batches_tracked included (copy_weights*.py).
    released = {k: (torch.rand(s, generator=generator) + 0.5).half() for k, s in shapes.items()}
    torch.save(released, tmp_path / "snapshot_100000.fp16.pth")
    net = ntech_efficientnet(seq_length=seq_length)
    load_ntech_checkpoint(
        tmp_path / "snapshot_100000.fp16.pth", net, sha256=sha256sum(tmp_path / "snapshot_100000.fp16.pth")
    )
    ours = net.state_dict()
    names = ntech_to_ours(shapes, net)
    assert sorted(names.values()) == sorted(ours)
    for key, value in released.items():
        assert ours[names[key]].dtype == (torch.int64 if key.endswith("num_batches_tracked") else torch.float32)
        assert torch.equal(ours[names[key]], value.to(ours[names[key]].dtype)), key
    expand = [k for k in shapes if k.endswith("_expand_conv.conv.weight")]
    assert len(expand) == (51 if seq_length else 0)
    if seq_length:  # a release becomes an exported model predict.py loads without any training state
        spec = {
            "name": "ntech_seq",
            "net": {"_target_": "src.models.ntech.net.ntech_efficientnet"},
            "output": "sigmoid",
        }
        exported, _ = load_exported(export_ntech_release(tmp_path / "snapshot_100000.fp16.pth", spec, tmp_path))
        assert all(torch.equal(v, ours[k]) for k, v in exported.state_dict().items())


def test_sequence_keymap_is_the_frame_keymap_plus_temporal_convs() -> None:
    rows = reference_rows("ntech_b7_frame_to_timm.keymap.tsv")
    frame_map = {ntech: f"backbone.{ours}" for ntech, ours in rows}
    with torch.device("meta"):
        net = ntech_efficientnet()
    seq_map = ntech_to_ours(reference_shapes("ntech_b7_seq.keys.txt"), net)
    lifted = {
        re.sub(r"_expand_conv\.weight$", "_expand_conv.conv.weight", k): re.sub(
            r"conv_pw\.weight$", "conv_pw.conv.weight", v
        )
        if "_expand_conv" in k
        else v
        for k, v in frame_map.items()
    }
    assert seq_map == lifted


def test_load_rejects_a_foreign_checkpoint(tmp_path) -> None:
    torch.save({"fc.weight": torch.zeros(1, 4)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match=r"other\.pth: not an NTech EfficientNet checkpoint"):
        load_ntech_checkpoint(tmp_path / "other.pth", ntech_efficientnet("test_efficientnet"))


def test_temporal_conv_starts_as_a_temporal_mean_and_keeps_clips_apart() -> None:
    conv = nn.Conv2d(4, 6, 1, bias=False)
    temporal = TemporalConv(conv, seq_length=3)
    frame = torch.randn(1, 4, 5, 5)
    clip = frame.repeat(3, 1, 1, 1)  # one clip of three identical frames
    out = temporal(clip)
    assert torch.allclose(out[1], conv(frame)[0], atol=1e-6)  # middle frame: mean of three taps
    assert torch.allclose(out[0], conv(frame)[0] * 2 / 3, atol=1e-6)  # ends: zero padding
    two_clips = torch.randn(6, 4, 5, 5)
    changed = two_clips.clone()
    changed[3:] += 1  # the second clip only
    assert torch.equal(temporal(two_clips)[:3], temporal(changed)[:3])
    with pytest.raises(ValueError, match="not whole clips of 3"):
        temporal(torch.randn(4, 4, 5, 5))


def test_tiny_sequence_model_gives_one_logit_per_frame() -> None:
    net = ntech_efficientnet("test_efficientnet", seq_length=7)
    assert sum(isinstance(m, TemporalConv) for m in net.modules()) == 2
    assert net(torch.randn(2, 7, 3, 64, 64)).shape == (2, 7)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_pretrained_file_timm_or_lukemelas_names_with_checksum(tmp_path, suffix: str) -> None:
    source = timm.create_model("tf_efficientnet_b0", num_classes=1000)
    state = source.state_dict()
    names = lukemelas_to_timm([k for k, *_ in reference_rows("rf_infer_b0.keys.txt")], stage_depths(source))
    names = {k: v for k, v in names.items() if not k.startswith("_fc")}
    lukemelas = {luke: state[ours].clone() for luke, ours in names.items()}
    lukemelas["_fc.weight"], lukemelas["_fc.bias"] = torch.zeros(1000, 1280), torch.zeros(1000)
    for label, weights in {"timm": state, "lukemelas": lukemelas}.items():
        path = tmp_path / f"{label}{suffix}"
        if suffix == ".safetensors":
            save_file({k: v.contiguous() for k, v in weights.items()}, path)
        else:
            torch.save(weights, path)
        net = create_backbone(
            "tf_efficientnet_b0", pretrained_file=path, pretrained_sha256=sha256sum(path), num_classes=1
        )
        loaded = net.state_dict()
        assert all(torch.equal(loaded[k], v) for k, v in state.items() if not k.startswith("classifier")), label
        assert loaded["classifier.weight"].shape == (1, 1280)
    with pytest.raises(ValueError, match=r"sha256 .* does not match"):
        create_backbone("tf_efficientnet_b0", pretrained_file=path, pretrained_sha256="0" * 64, num_classes=1)


@pytest.mark.slow
@pytest.mark.parametrize("size, nominal, final", [(380, 600, 11), (416, None, 13)])
def test_b7_sequence_model_trains_at_full_size_on_cpu(size: int, nominal: int | None, final: int) -> None:
    """model=b7_seq_380 / b7_seq_416: batch 1 = one clip of 7 frames, forward and backward (grad checkpointing)."""
    torch.manual_seed(0)
    net = ntech_efficientnet(nominal_size=nominal, grad_checkpointing=True)
    assert len(net.state_dict()) == 1200
    assert sum(p.numel() for p in net.parameters()) == 111_374_801  # reference/ntech_b7_summary.json
    head_input = []
    net.backbone.conv_head.register_forward_pre_hook(lambda m, args: head_input.append(args[0].shape))
    logits = net(torch.randn(1, 7, 3, size, size))
    assert logits.shape == (1, 7)
    nn.functional.binary_cross_entropy_with_logits(logits, torch.full_like(logits, 0.3)).backward()
    assert head_input[0][-2:] == (final, final)
    temporal = net.backbone.blocks[3][0].conv_pw.conv.weight.grad
    assert temporal is not None and torch.isfinite(temporal).all() and temporal.abs().sum() > 0
