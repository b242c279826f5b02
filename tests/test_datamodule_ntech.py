"""NTech data pipeline: compression augmentation, pair mixup, shared augmentation, samplers, the DataModule."""

from __future__ import annotations

import logging
from functools import partial

import albumentations as A
import numpy as np
import pandas as pd
import pytest
import torch

from src.datamodules.datamodule import TrackPairDataModule
from src.datamodules.index import aligned_pairs, read_clip_index, split_by_column
from src.datamodules.ntech.compression import CompressionParams, VideoCompression, remap_indices
from src.datamodules.ntech.datasets import ClipDataset, PairDataset, fit_offsets
from src.datamodules.ntech.transforms import ntech_eval, ntech_train
from src.datamodules.samplers import ResumableRandomSampler, ShardSampler
from src.video.io import write_video
from tests.helpers import synthetic_frames

SEQ = [19, 21, 23, 25, 27, 29, 31]


def test_reencoded_clip_keeps_frame_count_and_size() -> None:
    frames = synthetic_frames(50, 72, 64)
    compress = VideoCompression()
    same = compress(frames, CompressionParams(fps=30, scale=1.0, crf=17, tune="film"), source_fps=30)
    assert same.shape == frames.shape and same.dtype == np.uint8
    assert np.abs(same.astype(int) - frames).mean() < 4  # re-encoded, not garbage
    half = compress(frames, CompressionParams(fps=15, scale=0.5, crf=39, tune="zerolatency"), source_fps=30)
    assert half.shape == (25, 36, 32, 3)
    odd = CompressionParams(fps=30, scale=0.3, crf=30, tune="grain")
    assert odd.size(72, 64) == (22, 18)  # round(scale · side) // 2 · 2: even sides for libx264


def test_frame_index_remap_after_a_frame_rate_change_is_ntechs() -> None:
    # spec §3: at 15 fps the sequence indices become [10, 10, 12, 12, 14, 14, 16] (round-half-even)
    assert remap_indices(np.array(SEQ), 50, 25).tolist() == [10, 10, 12, 12, 14, 14, 16]
    assert remap_indices(np.array(SEQ), 50, 50).tolist() == SEQ
    assert remap_indices(np.array([49]), 50, 48).tolist() == [47]


def test_compression_parameters_follow_the_recipe() -> None:
    rng = np.random.default_rng(0)
    draws = [VideoCompression().sample(rng) for _ in range(2000)]
    used = [d for d in draws if d is not None]
    assert 0.45 < len(used) / len(draws) < 0.55
    assert {d.tune for d in used} == {"film", "animation", "grain", "stillimage", "fastdecode", "zerolatency"}
    assert {d.crf for d in used} == set(range(17, 40))
    assert set(d.fps for d in used) == {30, *range(15, 30)}
    assert 0.4 < np.mean([d.fps == 30 and d.scale == 1 for d in used]) / 0.5 < 0.6  # both kept with p 0.25
    assert all(0.25 <= d.scale <= 1 for d in used)


def test_offsets_fit_clips_cut_short() -> None:
    assert fit_offsets(SEQ, 50).tolist() == SEQ
    assert fit_offsets(SEQ, 30).tolist() == [17, 19, 21, 23, 25, 27, 29]
    assert fit_offsets(SEQ, 5).tolist() == [0, 0, 0, 0, 0, 2, 4]


def test_one_call_augments_every_image_alike() -> None:
    """The real and fake clip of a pair (and all frames of a sequence) go through one call: same parameters."""
    transform = ntech_train(80, (64, 56), auto_augment_p=1.0, erasing_p=1.0)
    image = synthetic_frames(1, 90, 100)[0]
    for seed in range(8):
        transform.set_random_seed(seed)
        out = transform(images=np.stack([image] * 4))["images"]
        assert out.shape == (4, 64, 56, 3)
        noise = [np.flatnonzero(np.abs(o - out[0]).sum(-1).ravel() > 1e-6) for o in out[1:]]
        # Same crop/flip/AutoAugment and the same erased box; only the erasing noise inside the box differs.
        assert all(len(n) == len(noise[0]) for n in noise)
        assert all(np.array_equal(n, noise[0]) for n in noise)
    outputs = []
    for seed in range(6):
        transform.set_random_seed(seed)
        outputs.append(transform(images=image[None])["images"][0])
    assert len({o.tobytes() for o in outputs}) == 6  # and the parameters do change from sample to sample


@pytest.fixture(scope="module")
def twin_pairs(synthetic_work) -> tuple[pd.DataFrame, object]:
    """The synthetic index with every fake clip replaced by its real clip: a pair whose members are identical."""
    index = read_clip_index(synthetic_work / "index.parquet")
    real_path = index.set_index("clip_id")["clip_path"]
    fakes = index["label"] == 1
    index.loc[fakes, "clip_path"] = real_path.loc[index.loc[fakes, "pair_clip_id"]].to_numpy()
    return index, synthetic_work


@pytest.mark.parametrize("sequence_mode", [True, False])
def test_pair_members_get_identical_augmentation_and_compression(twin_pairs, sequence_mode: bool) -> None:
    index, root = twin_pairs
    frames = SEQ if sequence_mode else [9, 13, 17, 21, 25, 29, 33, 37]
    pairs = PairDataset(
        index,
        root,
        frames,
        ntech_train(64, (56, 48), auto_augment_p=1.0),
        VideoCompression(p=1.0, tunes=("zerolatency",)),  # x264 is bit-exact without B-frames/mb-tree
        sequence_mode=sequence_mode,
    )
    item = pairs[(0, 123)]
    assert item["input"].shape == (len(frames), 3, 56, 48)
    again = pairs[(0, 123)]
    assert torch.equal(item["input"], again["input"]) and torch.equal(item["target"], again["target"])
    # Identical members: whatever λ, the mix equals the augmented real clip only if the fake one got the same
    # compression, crop, flip and AutoAugment. Replay the sample's random draws on the real clip alone.
    real = pairs.reals.iloc[0]
    rng = np.random.default_rng(123)
    params = pairs.compression.sample(rng)
    decoded = pairs._frames(real, fit_offsets(frames, int(real["num_frames"])), params)
    lam = rng.beta(0.5, 0.5, size=1 if sequence_mode else len(frames))
    assert 0.1 < lam.mean() < 0.9  # a real mix: a fake member augmented differently would show
    seed = int(rng.integers(2**31))
    if sequence_mode:
        expected = pairs._augment(np.concatenate([decoded, decoded]), seed)[: len(frames)]
    else:
        pairs.transform.set_random_seed(seed)
        expected = torch.stack([pairs._augment(np.stack([f, f]))[0] for f in decoded])
    assert torch.allclose(item["input"], expected, atol=1e-5)
    assert np.allclose(item["target"].numpy(), np.broadcast_to(lam, len(frames)))
    if sequence_mode:  # all frames of a sequence share one flip/crop/AutoAugment: equal frames stay equal
        still = pairs._augment(np.repeat(decoded[:1], 4, axis=0), seed)
        assert all(torch.equal(still[0], s) for s in still[1:])


def constant_pair_index(root, value_real: int, value_fake: int) -> pd.DataFrame:
    rows = []
    for name, label, value in (("real", 0, value_real), ("fake", 1, value_fake)):
        write_video(root / f"clips/{name}.mp4", np.full((40, 32, 32, 3), value, np.uint8), 30, crf=0, keyint=8)
        rows.append(
            {
                "clip_id": name, "video_id": f"{name}.mp4", "label": label, "clip_path": f"clips/{name}.mp4",
                "num_frames": 40, "height": 32, "width": 32, "fps": 30.0, "split": "train",
                "pair_clip_id": "real" if label else "", "pair_aligned": bool(label),
            }
        )  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.parametrize("sequence_mode", [True, False])
def test_mixed_input_is_the_pair_interpolated_by_the_target(tmp_path, sequence_mode: bool) -> None:
    index = constant_pair_index(tmp_path, 0, 255)
    identity = A.Compose([A.Normalize(mean=(0, 0, 0), std=(1, 1, 1), max_pixel_value=255)])
    pairs = PairDataset(index, tmp_path, SEQ, identity, sequence_mode=sequence_mode)
    targets = []
    for seed in range(20):
        item = pairs[(0, seed)]
        per_frame = item["input"].mean(dim=(1, 2, 3))  # real ≈ 0, fake ≈ 1: the mix is λ itself
        assert torch.allclose(per_frame, item["target"], atol=2e-3)
        assert (item["target"] == item["target"][0]).all() == sequence_mode
        targets.append(item["target"][0].item())
    assert min(targets) > 0 and max(targets) < 1 and np.std(targets) > 0.2  # Beta(0.5, 0.5): spread to the ends


def test_clip_cache_gives_the_same_samples_and_keeps_to_its_budget(synthetic_work) -> None:
    index = read_clip_index(synthetic_work / "index.parquet")
    transform = ntech_train(64, (56, 48), auto_augment_p=1.0)
    plain = PairDataset(index, synthetic_work, SEQ, transform)
    cached = PairDataset(index, synthetic_work, SEQ, transform, cache_mb=1024)
    for key in [(0, 5), (1, 6), (0, 7), (0, 5)]:  # (0, 5) again: served from the cache
        assert torch.equal(plain[key]["input"], cached[key]["input"])
    assert len(cached._cache) == 4 and cached._cached_bytes <= cached.cache_bytes  # two pairs, two clips each
    row = index.iloc[0]
    one_clip_mb = row["num_frames"] * row["height"] * row["width"] * 3 / 2**20
    small = PairDataset(index, synthetic_work, SEQ, transform, cache_mb=one_clip_mb * 1.5)
    small[(0, 5)]
    assert len(small._cache) == 1  # the second clip of the pair did not fit: read from disk
    with pytest.raises(ValueError, match="cache_mb"):
        PairDataset(index, synthetic_work, SEQ, transform, cache_mb=-1)


def test_unreadable_clip_is_reported_once_and_replaced(synthetic_work, caplog) -> None:
    index = read_clip_index(synthetic_work / "index.parquet")
    broken = index.copy()
    broken.loc[0, "clip_path"] = "clips/missing.mp4"
    clips = ClipDataset(broken, synthetic_work, SEQ, ntech_eval(64, (64, 64)))
    with caplog.at_level(logging.ERROR):
        first, second = clips[0], clips[0]
    assert first["index"] == second["index"] == 1
    errors = [r.getMessage() for r in caplog.records if "missing.mp4" in r.getMessage()]
    assert len(errors) == 1 and "decord cannot open the file" in errors[0]


def test_aligned_pairs_stay_within_the_split(synthetic_work) -> None:
    train, val = split_by_column(read_clip_index(synthetic_work / "index.parquet"))
    fakes, reals = aligned_pairs(train)
    assert len(fakes) == 3 and (reals["clip_id"].to_numpy() == fakes["pair_clip_id"].to_numpy()).all()
    assert set(val["video_id"]).isdisjoint(train["video_id"])
    assert len(aligned_pairs(val)[0]) == 1


def test_resumed_sampler_continues_the_stream_and_ranks_split_each_epoch() -> None:
    full = list(ResumableRandomSampler(10, batch_size=3, num_batches=9, seed=5))
    resumed = list(ResumableRandomSampler(10, batch_size=3, num_batches=9, start_batch=4, seed=5))
    assert resumed == full[12:] and len(ResumableRandomSampler(10, 3, 9, start_batch=4)) == 27
    assert sorted(i for i, _ in full[:10]) == list(range(10)) and sorted(i for i, _ in full[10:20]) == list(range(10))
    assert len({s for _, s in full}) == len(full)  # every sample gets its own augmentation seed
    ranks = [list(ResumableRandomSampler(7, 2, 4, seed=1, world_size=2, rank=r)) for r in (0, 1)]
    first_epoch = [i for r in ranks for i, _ in r[:4]]
    assert set(first_epoch) == set(range(7))  # 8 slots: one padding duplicate
    assert not {s for _, s in ranks[0]} & {s for _, s in ranks[1]}
    shards = [list(ShardSampler(5, world_size=2, rank=r)) for r in (0, 1)]
    assert shards == [[0, 2, 4], [1, 3, 0]]


def test_datamodule_builds_loaders_from_the_config_parts(synthetic_work) -> None:
    datamodule = TrackPairDataModule(
        synthetic_work / "index.parquet",
        train_dataset=partial(PairDataset, frames=SEQ, transform=ntech_train(64, (64, 64))),
        val_dataset=partial(ClipDataset, frames=SEQ, transform=ntech_eval(64, (64, 64))),
        train_sampler=partial(ResumableRandomSampler, seed=0),
        batch_size=2,
    )
    datamodule.trainer = type(
        "T", (), {"max_steps": 5, "accumulate_grad_batches": 1, "global_step": 3, "world_size": 1}
    )()
    datamodule.setup("fit")
    batch = next(iter(datamodule.train_dataloader()))
    assert batch["input"].shape == (2, 7, 3, 64, 64) and batch["target"].shape == (2, 7)
    assert len(datamodule.train_dataloader().sampler) == 10
    val = next(iter(datamodule.val_dataloader()))
    assert sorted(val["label"].tolist()) == [0, 1] and (val["target"][val["label"] == 1] == 1).all()


def test_compression_times_every_clip_at_ntechs_30_fps(tmp_path) -> None:
    """NTech's TrackPairDataset assumed FPS = 30 for every clip: a 25 fps clip is re-encoded as if it were 30 fps."""
    index = constant_pair_index(tmp_path, 0, 255)
    index["fps"] = 25.0
    rates = []

    class Spy(VideoCompression):
        def frames(self, read, num_frames, indices, params, source_fps=30.0):
            rates.append(source_fps)
            return super().frames(read, num_frames, indices, params, source_fps)

    identity = A.Compose([A.Normalize(mean=(0, 0, 0), std=(1, 1, 1), max_pixel_value=255)])
    PairDataset(index, tmp_path, SEQ, identity, Spy(p=1.0))[(0, 1)]
    PairDataset(index, tmp_path, SEQ, identity, Spy(p=1.0), source_fps=None)[(0, 1)]
    assert rates == [30.0, 30.0, 25.0, 25.0]  # both members; None: each clip's own rate
