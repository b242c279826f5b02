"""RobustForensics recipe pieces against values computed by hand from spec robustforensics.md §4–§7."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from src.datamodules.robustforensics import transforms as rf_transforms
from src.datamodules.robustforensics.frames import strided_frames, temporal_center_crop, temporal_random_crop
from src.datamodules.robustforensics.sampler import GivenIterationSampler
from src.models.robustforensics.loss import RFCrossEntropy
from src.models.robustforensics.schedule import WarmupStepLR
from tests.helpers import spec_sampler


def _lrs(scheduler_kwargs: dict, iterations: list[int]) -> dict[int, float]:
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=123.0, momentum=0.9, nesterov=True, weight_decay=1e-4)
    scheduler = WarmupStepLR(optimizer, **scheduler_kwargs)
    seen = {}
    for it in range(max(iterations) + 1):
        seen[it] = optimizer.param_groups[0]["lr"]  # the lr used by iteration `it`
        optimizer.step()
        scheduler.step()
    return {it: seen[it] for it in iterations}


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        # b0/b1: 0.01 → 0.03 over 1000 it, ×0.5 at 15k, 25k, 35k, 45k.
        (
            {"base_lr": 0.01, "peak_lr": 0.03, "milestones": [15000, 25000, 35000, 45000]},
            {0: 0.01, 1: 0.01002, 500: 0.02, 999: 0.02998, 1000: 0.03, 14999: 0.03, 15000: 0.015, 24999: 0.015,
             25000: 0.0075, 35000: 0.00375, 45000: 0.001875, 60001: 0.001875},
        ),
        # r34: 0.001 → 0.02, milestones 10k…25k.
        (
            {"base_lr": 0.001, "peak_lr": 0.02, "milestones": [10000, 15000, 20000, 25000]},
            {0: 0.001, 250: 0.00575, 1000: 0.02, 10000: 0.01, 23000: 0.0025, 25000: 0.00125},
        ),
    ],
)  # fmt: skip
def test_warmup_step_lr_matches_hand_values(kwargs: dict, expected: dict[int, float]) -> None:
    got = _lrs(kwargs, list(expected))
    for it, lr in expected.items():
        assert got[it] == pytest.approx(lr, rel=1e-12), it


def test_schedule_resumes_from_its_state_dict() -> None:
    kwargs = {"base_lr": 0.002, "peak_lr": 0.05, "milestones": [15000, 25000, 35000, 45000]}
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0)
    scheduler = WarmupStepLR(optimizer, **kwargs)
    for _ in range(700):
        optimizer.step()
        scheduler.step()
    restored_opt = torch.optim.SGD([param], lr=1.0)
    restored = WarmupStepLR(restored_opt, **kwargs)
    restored.load_state_dict(scheduler.state_dict())
    restored_opt.load_state_dict(optimizer.state_dict())
    restored_opt.step()
    restored.step()
    assert restored_opt.param_groups[0]["lr"] == pytest.approx(0.002 + 701 / 1000 * 0.048)


def test_class_weighted_cross_entropy_by_hand() -> None:
    loss = RFCrossEntropy(positive_weight=0.1)
    assert loss.weight.tolist() == pytest.approx([1.8, 0.2])
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    target = torch.tensor([0, 1, 1])  # 0 REAL, 1 FAKE
    per_sample = [math.log(1 + math.exp(-2)), math.log(1 + math.exp(-1)), math.log(2)]
    weights = [1.8, 0.2, 0.2]
    expected = sum(w * v for w, v in zip(weights, per_sample, strict=True)) / sum(weights)
    assert loss(logits, target).item() == pytest.approx(expected, rel=1e-6)


def test_grad_divisor_scales_only_the_gradient() -> None:
    logits = torch.randn(6, 2, requires_grad=True)
    target = torch.tensor([0, 1, 1, 0, 1, 1])
    plain = RFCrossEntropy(0.1)(logits, target)
    (grad_plain,) = torch.autograd.grad(plain, logits)
    scaled = RFCrossEntropy(0.1, grad_divisor=8)(logits, target)
    (grad_scaled,) = torch.autograd.grad(scaled, logits)
    assert scaled.item() == pytest.approx(plain.item())
    torch.testing.assert_close(grad_scaled * 8, grad_plain)


@pytest.mark.parametrize(
    ("num_samples", "max_iter", "batch", "world"), [(7, 5, 2, 1), (10, 3, 4, 2), (5000, 40, 16, 8)]
)
def test_sampler_order_is_the_seeds(num_samples: int, max_iter: int, batch: int, world: int) -> None:
    for rank in range(world):
        sampler = GivenIterationSampler(num_samples, batch, max_iter, world_size=world, rank=rank)
        assert _indices(sampler) == spec_sampler(num_samples, max_iter, batch, world, rank)
        assert len(sampler) == max_iter * batch


def _indices(sampler: GivenIterationSampler) -> list[int]:
    return [index for index, _ in sampler]


def test_sampler_literal_order() -> None:
    # NumPy's seed-0 MT19937 stream: shuffle(arange(7)) = [6, 2, 1, 3, 0, 5, 4]; tiled to 5 × 2 = 10 indices
    # [6, 2, 1, 3, 0, 5, 4, 6, 2, 1] and shuffled again.
    assert _indices(GivenIterationSampler(7, 2, 5, world_size=1, rank=0)) == [3, 2, 2, 6, 1, 6, 4, 0, 1, 5]
    # Two ranks, 3 iterations of 4: one list of 24 (shuffle(arange(10)) tiled ×3), rank r takes its 12.
    whole = [8, 2, 0, 3, 4, 8, 5, 7, 2, 2, 9, 9, 6, 0, 9, 5, 6, 1, 3, 4, 8, 4, 7, 1]
    assert _indices(GivenIterationSampler(10, 4, 3, world_size=2, rank=0)) == whole[:12]
    assert _indices(GivenIterationSampler(10, 4, 3, world_size=2, rank=1)) == whole[12:]


def test_sampler_resume_continues_at_the_exact_sample() -> None:
    full = list(GivenIterationSampler(1000, 4, 50, world_size=2, rank=1))
    resumed = list(GivenIterationSampler(1000, 4, 50, start_batch=17, world_size=2, rank=1))
    assert resumed == full[17 * 4 :]  # same samples and the same per-sample seeds
    assert resumed[:4] == full[68:72]  # the 18th batch, which the interrupted run would have drawn next
    seeds = [seed for _, seed in full] + [seed for _, seed in GivenIterationSampler(1000, 4, 50, world_size=2, rank=0)]
    assert len(set(seeds)) == len(seeds)  # every draw, on every rank, augments differently


def test_frame_selection() -> None:
    assert strided_frames(300).tolist() == [0, 30, 60, 90, 120, 150, 180, 210, 240, 270]  # seed's 1, 31, …, 271
    assert len(strided_frames(301)) == 11 and len(strided_frames(250)) == 9
    assert temporal_center_crop(300, 128, 4).tolist() == list(range(86, 214, 4))
    assert temporal_center_crop(300, 128, 8).tolist() == list(range(86, 214, 8))
    # A 50-frame tube loops its frames to fill the 128-frame window.
    looped = temporal_center_crop(50, 128, 4).tolist()
    assert len(looped) == 32 and looped[:14] == [*range(0, 50, 4), 2]
    rng = np.random.default_rng(0)
    begins = {int(temporal_random_crop(300, rng, 128, 4)[0]) for _ in range(3000)}
    assert min(begins) == 0 and max(begins) == 300 - 128 - 1  # randint(0, N - 129) inclusive
    assert all(np.diff(temporal_random_crop(300, rng, 128, 8)).tolist() == [8] * 15 for _ in range(20))


def test_clip_augmentation_draws_once_per_clip() -> None:
    frame = np.random.default_rng(1).integers(0, 256, (1, 280, 280, 3), dtype=np.uint8)
    clip = np.repeat(frame, 8, axis=0)
    transform = rf_transforms.clip_train(size=224, brightness_contrast=True, jpeg=True)
    transform.set_random_seed(0)
    outputs = [transform(images=clip)["images"] for _ in range(6)]
    for out in outputs:
        assert out.shape == (8, 224, 224, 3)
        assert np.all(out == out[:1])  # identical frames stay identical: one parameter draw per clip
    assert any(not np.array_equal(outputs[0], other) for other in outputs[1:])  # but draws differ across clips
    val = rf_transforms.clip_val(256)(images=clip)["images"]
    assert val.shape == (8, 256, 256, 3)
