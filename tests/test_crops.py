"""Crop recipes (which frames, boxes and flips each member sees) and a member's batched forward on toy models."""

from __future__ import annotations

import albumentations as A
import numpy as np
import pytest
import torch
from torch import nn

from src.inference.crops import NtechFrames, NtechSequences, TrackCrops, TubeClip, TubeFrames
from src.inference.ensemble import ExportedModel, Member, SampledFrames, fake_logit
from src.inference.timing import StageTimer
from src.video.io import VideoInfo
from src.video.sampling import FirstFrames


def track(n: int, start: int = 0, step: int = 2) -> tuple[np.ndarray, np.ndarray]:
    frames = np.arange(start, start + n * step, step)
    boxes = np.stack([frames, frames + 1, frames + 10, frames + 11], axis=1)  # box k identifies its frame
    return frames, boxes


def test_ntech_sequences_windows_middle_box_and_flips():
    f, b = track(30)
    units = NtechSequences(length=7).units(TrackCrops([f], [b]))
    # track[:-6:14] → starts 0 and 14 (28 would not leave 7 frames)
    assert [u.frames.tolist() for u in units] == [f[0:7].tolist(), f[14:21].tolist()]
    assert [u.boxes[0, 0] for u in units] == [f[3], f[17]]  # the middle frame's box for the whole window
    assert all((u.boxes == u.boxes[0]).all() for u in units)
    assert [u.flip for u in units] == [True, False]
    assert NtechSequences(length=7).units(TrackCrops([f[:6]], [b[:6]])) == []  # too short for one window


def test_ntech_frames_split_between_models():
    f, b = track(10)  # track[::2] → positions 0, 2, 4, 6, 8 numbered 0..4
    large = NtechFrames(phases=(0, 1)).units(TrackCrops([f], [b]))
    re = NtechFrames(phases=(2, 3)).units(TrackCrops([f], [b]))
    assert [int(u.frames[0]) for u in large] == [f[0], f[2], f[8]]
    assert [u.flip for u in large] == [True, False, True]
    assert [int(u.frames[0]) for u in re] == [f[4], f[6]]
    assert [u.flip for u in re] == [True, False]


def test_tube_frames_subsample_to_groups_of_five():
    def count(n):
        f, b = track(n, step=1)
        return len(TubeFrames().units(TrackCrops([f], [b])))

    assert count(150) == 30  # every ceil(150/35) = 5th frame
    assert count(12) == 10  # 12 frames, cut to a multiple of 5
    assert count(3) == 3  # fewer than a group: all of them
    f, b = track(150, step=1)
    units = TubeFrames().units(TrackCrops([f, f[:20]], [b, b[:20]]))
    assert [u.track for u in units] == [0] * 30 + [1] * 20
    clips = TubeClip().units(TrackCrops([f, f[:20]], [b, b[:20]]))
    assert [len(u.frames) for u in clips] == [150, 20]


def test_first_frames_cuts_any_sampler():
    info = VideoInfo(path="x", num_frames=300, fps=29.97, width=64, height=48, rotation=0, codec="h264", pix_fmt="yuv")
    every_2nd = lambda i: np.arange(0, i.num_frames, 2)  # noqa: E731
    assert FirstFrames(every_2nd, max_frames=9)(info).tolist() == [0, 2, 4, 6, 8]
    assert len(FirstFrames(every_2nd)(info)) == 150


class MeanLogit(nn.Module):
    """Per image: two logits [0, left-half mean - right-half mean + overall mean]: shows frame, crop and flip."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = x.shape[-1]
        value = (
            x.mean(dim=(-3, -2, -1)) + x[..., : w // 2].mean(dim=(-3, -2, -1)) - x[..., w // 2 :].mean(dim=(-3, -2, -1))
        )
        if x.ndim == 5 and x.shape[1] == 3:  # clip (N, C, T, H, W): one output per clip
            value = x.mean(dim=(1, 2, 3, 4))
            return torch.stack([torch.zeros_like(value), value], -1)
        return value if x.ndim == 5 else torch.stack([torch.zeros_like(value), value], -1)


IDENTITY = A.Compose([A.Normalize(mean=0, std=1, max_pixel_value=1)])


def gradient_frames(n: int) -> SampledFrames:
    """Frame k: value k on its left half, 0 on the right, so an unflipped crop gives 2k, a mirrored one 0."""
    frames = np.zeros((n, 24, 32, 3), np.uint8)
    for k in range(n):
        frames[k, :, :16] = k
    return SampledFrames(np.arange(n) * 2, frames)


def test_member_sequence_layout_maps_outputs_to_frames_and_flips():
    frames = gradient_frames(30)
    f = frames.indices
    boxes = np.tile([0, 0, 32, 24], (30, 1))
    member = Member("seq", ExportedModel(MeanLogit()), NtechSequences(length=7), IDENTITY, batch_size=7)
    timer = StageTimer()
    result = member.run(frames, TrackCrops([f], [boxes]), torch.device("cpu"), timer=timer)
    samples = result.samples
    assert samples["first"] == f[0:7].tolist() + f[14:21].tolist()
    # window 0 is mirrored: left half (value k) goes right → mean k/2 + (0 - k) = -k/2; window 1 not: k/2 + k = 1.5k
    expected = [-k / 2 for k in range(7)] + [1.5 * k for k in range(14, 21)]
    np.testing.assert_allclose(result.output.tracks[0], expected, atol=1e-5)
    assert set(timer.seconds) == {"crop", "model"}


def test_member_tta_flip_averages_logits_and_images_layout():
    frames = gradient_frames(10)
    boxes = np.tile([0, 0, 32, 24], (10, 1))
    plain = Member("b0", ExportedModel(MeanLogit(), "softmax"), TubeFrames(count=10, group=5), IDENTITY)
    tta = Member("b1", ExportedModel(MeanLogit(), "softmax"), TubeFrames(count=10, group=5, tta_flip=True), IDENTITY)
    crops = TrackCrops([frames.indices], [boxes])
    out_plain = plain.run(frames, crops, torch.device("cpu")).output.tracks[0]
    out_tta = tta.run(frames, crops, torch.device("cpu")).output.tracks[0]
    np.testing.assert_allclose(out_plain, [1.5 * k for k in range(10)], atol=1e-5)
    np.testing.assert_allclose(out_tta, [0.5 * k for k in range(10)], atol=1e-5)  # (1.5k + (-0.5k)) / 2


def test_member_clip_layout_and_bgr():
    frames = gradient_frames(20)
    frames.frames[..., 2] = 0  # blue channel 0: BGR order moves the values, the mean stays
    boxes = np.tile([0, 0, 32, 24], (20, 1))
    crops = TrackCrops([frames.indices[:20], frames.indices[:10]], [boxes, boxes[:10]])
    sf = ExportedModel(MeanLogit(), "softmax")
    member = Member("sf", sf, TubeClip(), IDENTITY, group="video", bgr=True, batch_size=20)
    result = member.run(frames, crops, torch.device("cpu"))
    # clip mean: half the width holds k in 2 of 3 channels → mean over k of k/3
    np.testing.assert_allclose(result.output.tracks[0], [np.arange(20).mean() / 3], atol=1e-5)
    np.testing.assert_allclose(result.output.tracks[1], [np.arange(10).mean() / 3], atol=1e-5)
    assert result.samples["first"] == [0, 0] and result.samples["last"] == [38, 18]


def test_crop_boxes_cut_the_right_pixels():
    frames = SampledFrames(np.array([4]), np.arange(24 * 32 * 3, dtype=np.uint8).reshape(1, 24, 32, 3) % 251)
    np.testing.assert_array_equal(frames.crop(4, np.array([3, 5, 10, 9])), frames.frames[0, 5:9, 3:10])
    with pytest.raises(KeyError):
        frames.crop(5, np.array([0, 0, 1, 1]))


def test_fake_logit_of_two_class_and_one_logit_heads():
    torch.testing.assert_close(fake_logit(torch.tensor([[1.0, 3.0]]), "softmax"), torch.tensor([2.0]))
    per_frame = torch.tensor([[0.5, 1.5]])  # a 2-frame sequence of sigmoid logits is not a two-class head
    torch.testing.assert_close(fake_logit(per_frame, "sigmoid"), per_frame)
    with pytest.raises(ValueError, match="sigmoid or softmax"):
        fake_logit(per_frame, "tanh")


def test_member_needs_a_transform():
    with pytest.raises(ValueError, match="transform"):
        Member("m", ExportedModel(MeanLogit()), TubeFrames())
