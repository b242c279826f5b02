"""RobustForensics datasets on real face-tube clips, and the video-level validation metric."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

from src.datamodules.robustforensics import transforms as rf_transforms
from src.datamodules.robustforensics.datasets import TubeClips, TubeFrames
from src.datamodules.robustforensics.sampler import GivenIterationSampler
from src.datamodules.robustforensics.splits import train_val_split


@pytest.fixture(scope="module")
def tubes(tube_clips: tuple[Path, pd.DataFrame]) -> tuple[Path, pd.DataFrame]:
    root, index = tube_clips
    return root, index.copy()


def test_tube_frames_are_the_seeds_strided_samples(tubes: tuple[Path, pd.DataFrame]) -> None:
    root, index = tubes
    dataset = TubeFrames(index, root, rf_transforms.image_val(32), frame_stride=30)
    assert len(dataset) == 4 * 5  # 140-frame tubes: frames 0, 30, 60, 90, 120
    assert dataset.sample_frame[:5].tolist() == [0, 30, 60, 90, 120]
    item = dataset[7]
    assert item["input"].shape == (3, 32, 32) and item["input"].dtype == torch.float32
    assert item["label"] == index["label"][1] and item["video"] == 1 and item["index"] == 7
    # Xception's BGR input: the same pixels with the channels reversed.
    bgr = TubeFrames(
        index, root, rf_transforms.image_val(32, rf_transforms.HALF, rf_transforms.HALF), channel_order="BGR"
    )
    rgb = TubeFrames(index, root, rf_transforms.image_val(32, rf_transforms.HALF, rf_transforms.HALF))
    torch.testing.assert_close(bgr[3]["input"], rgb[3]["input"].flip(0))


def test_tube_clips_follow_the_temporal_crop(tubes: tuple[Path, pd.DataFrame]) -> None:
    root, index = tubes
    train = TubeClips(index, root, rf_transforms.clip_train(size=32, min_scale=32, max_scale=48), step=4)
    assert train[0]["input"].shape == (3, 32, 32, 32)  # (C, T, H, W): 32×4
    val = TubeClips(index, root, rf_transforms.clip_val(40), size=128, step=8, random_crop=False)
    clip = val[2]["input"]
    assert clip.shape == (3, 16, 40, 40)  # 16×8, validated at a larger size than trained, as the seed
    torch.testing.assert_close(clip, val[2]["input"])  # centre crop, no randomness
    # A tube shorter than the window loops its frames: in a 256-frame window of a 140-frame tube, read every 4th
    # frame, position 35 (window frame 140) is tube frame 0 again.
    looped = TubeClips(index, root, rf_transforms.clip_val(64), size=256, step=4, random_crop=False)[0]["input"]
    assert looped.shape[1] == 64
    torch.testing.assert_close(looped[:, 35], looped[:, 0])
    assert not torch.equal(looped[:, 34], looped[:, 0])


def test_augmentation_follows_the_sample_seed(tubes: tuple[Path, pd.DataFrame]) -> None:
    root, index = tubes
    same = index.iloc[[0] * 4].reset_index(drop=True)
    dataset = TubeFrames(same, root, rf_transforms.image_train(32), frame_stride=1000)  # four times one frame
    keys = list(GivenIterationSampler(len(dataset), batch_size=2, num_batches=4, world_size=1, rank=0))
    inputs = torch.cat([b["input"] for b in DataLoader(dataset, batch_size=2, sampler=keys)])
    assert len({tuple(x.flatten().tolist()) for x in inputs}) > len(keys) // 2  # each draw its own augmentation,
    torch.testing.assert_close(dataset[keys[5]]["input"], inputs[5])  # fixed by its key (no worker state)
    clips = TubeClips(index, root, rf_transforms.clip_train(size=32, min_scale=32, max_scale=48))
    torch.testing.assert_close(clips[(1, 7)]["input"], clips[(1, 7)]["input"])
    assert not torch.equal(clips[(1, 7)]["input"], clips[(1, 8)]["input"])


def test_unreadable_clip_is_reported_once_and_replaced(
    tubes: tuple[Path, pd.DataFrame], tmp_path: Path, caplog
) -> None:
    root, index = tubes
    broken = tmp_path / "clips" / "broken.mp4"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"\x00" * 100)
    for row in index.itertuples():
        target = tmp_path / row.clip_path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(root / row.clip_path)
    with_broken = pd.concat([index.iloc[[0]].assign(clip_path="clips/broken.mp4"), index], ignore_index=True)
    dataset = TubeClips(with_broken, tmp_path, rf_transforms.clip_val(32), random_crop=False)
    with caplog.at_level(logging.ERROR):
        first, again = dataset[0], dataset[0]
    assert first["index"] == 1 and again["index"] == 1  # the next readable clip
    errors = [r.getMessage() for r in caplog.records if "broken.mp4" in r.getMessage()]
    assert len(errors) == 1 and "\n" not in errors[0]


def test_unlabelled_clips_are_refused(tubes: tuple[Path, pd.DataFrame]) -> None:
    root, index = tubes
    with pytest.raises(ValueError, match="no label"):
        TubeFrames(index.assign(label=-1), root, rf_transforms.image_val(32))


def test_train_val_split_rules(tmp_path: Path) -> None:
    clips = [(0, "a"), (0, "a"), (30, "b"), (31, "c"), (2, "d")]
    index = pd.DataFrame(
        {
            "video_id": [f"dfdc_train_part_{p}/{v}.mp4" for p, v in clips],
            "part": [f"dfdc_train_part_{p}" for p, _ in clips],
            "label": [1, 1, 0, 1, -1],
            "split": ["train", "train", "val", "train", "val"],
        }
    )
    train, val = train_val_split(index, val_parts=[f"dfdc_train_part_{k}" for k in range(30, 40)])
    assert val["video_id"].tolist() == ["dfdc_train_part_30/b.mp4", "dfdc_train_part_31/c.mp4"]
    assert train["video_id"].tolist() == ["dfdc_train_part_0/a.mp4"] * 2  # the unlabelled clip is in neither
    # The seed's own list format names the videos (one line per face tube).
    seed_list = tmp_path / "publicval_alignedface_png.txt"
    seed_list.write_text(
        "dfdc_train_part_0/a/frame%d_face1.png 1 30 10 1\ndfdc_train_part_0/a/frame%d_face2.png 1 30 10 1\n"
    )
    train, val = train_val_split(index, val_list=seed_list)
    assert val["video_id"].tolist() == ["dfdc_train_part_0/a.mp4"] * 2 and len(train) == 2
    train, val = train_val_split(index)
    assert val["video_id"].tolist() == ["dfdc_train_part_30/b.mp4"]
    with pytest.raises(ValueError, match="0 val clips"):
        train_val_split(index, val_parts=["dfdc_train_part_49"])
    with pytest.raises(FileNotFoundError, match=r"absent\.txt: video list not found"):
        train_val_split(index, val_list=tmp_path / "absent.txt")
