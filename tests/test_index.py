"""The clip index: leak-free splits (by original, FF++ sequence, DFDC part), pair verification, parquet schema."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from src.preprocess.index import (
    COLUMNS,
    assign_splits,
    build_index,
    read_index,
    read_index_settings,
    split_groups,
    write_index,
)
from src.video.sources import VideoRecord

FF = "ffpp/manipulated_sequences/{m}/{c}/videos/{t}_{s}.mp4"
FO = "ffpp/original_sequences/youtube/{c}/videos/{t}.mp4"


def ffpp_records() -> list[VideoRecord]:
    records = [VideoRecord(FO.format(c=c, t=t), Path("x"), 0, None, "", "ffpp") for c in ("c23", "c40") for t in "123"]
    records += [
        VideoRecord(FF.format(m="Deepfakes", c="c23", t="1", s="2"), Path("x"), 1, FO.format(c="c23", t="1")),
        VideoRecord(FF.format(m="FaceSwap", c="c40", t="3", s="9"), Path("x"), 1, FO.format(c="c40", t="3")),
    ]
    return records


def test_ffpp_groups_join_target_source_and_compressions():
    groups = split_groups(ffpp_records())
    g = {vid: groups[vid] for vid in groups}
    one, two, three = (g[FO.format(c="c23", t=t)] for t in "123")
    assert one == two == g[FO.format(c="c40", t="1")] == g[FO.format(c="c40", t="2")]  # 1_2 ties 1 and 2
    assert three == g[FO.format(c="c40", t="3")] and three != one


def dfdc(video: str, part: int, label: int = 0, original: str | None = None) -> VideoRecord:
    prefix = f"dfdc_train_part_{part}/"
    return VideoRecord(prefix + video, Path("x"), label, original and prefix + original, f"dfdc_train_part_{part}")


def test_dfdc_split_by_part_fakes_follow_their_original():
    records = [dfdc("a.mp4", 0), dfdc("b.mp4", 0, 1, "a.mp4"), dfdc("c.mp4", 31), dfdc("d.mp4", 31, 1, "c.mp4")]
    records.append(VideoRecord("dfdc_train_part_31/u.mp4", Path("x"), None, None, "dfdc_train_part_31"))
    splits = assign_splits(records, val_parts=[30, 31])
    assert {k: v[0] for k, v in splits.items()} == {
        "dfdc_train_part_0/a.mp4": "train",
        "dfdc_train_part_0/b.mp4": "train",
        "dfdc_train_part_31/c.mp4": "val",
        "dfdc_train_part_31/d.mp4": "val",
        "dfdc_train_part_31/u.mp4": "test",  # unlabelled
    }
    assert assign_splits(records, val_parts=["dfdc_train_part_0"])["dfdc_train_part_0/b.mp4"][0] == "val"


def test_hash_split_is_deterministic_and_keeps_groups_whole():
    records = [dfdc(f"r{i}.mp4", 0) for i in range(200)]
    records += [dfdc(f"f{i}.mp4", 0, 1, f"r{i}.mp4") for i in range(200)]
    splits = assign_splits(records, val_fraction=0.2)
    assert splits == assign_splits(list(reversed(records)), val_fraction=0.2)
    val = sum(split == "val" for split, _ in splits.values()) / len(records)
    assert 0.1 < val < 0.3
    for i in range(200):
        assert splits[f"dfdc_train_part_0/f{i}.mp4"] == splits[f"dfdc_train_part_0/r{i}.mp4"]


def clip(video_id: str, name: str, frames, boxes, pair: dict | None = None) -> dict:
    return {
        "clip_id": f"{video_id}/{name}",
        "name": name,
        "track_id": int(name.split("_")[0]),
        "path": f"clips/{video_id}/{name}.mp4",
        "source_frames": frames,
        "crop_boxes": boxes,
        "size": [20, 10],
        "fps": 30.0,
        "detections": {"frames": frames[::6], "boxes": [], "scores": []},
        "pair": pair,
    }


def test_build_index_verifies_pairs_against_the_original_clips(tmp_path):
    real, fake, other = dfdc("a.mp4", 0), dfdc("b.mp4", 0, 1, "a.mp4"), dfdc("c.mp4", 0, 1, "gone.mp4")
    frames, boxes = [10, 11, 12], [[0, 0, 10, 20]] * 3
    manifests = {
        real.video_id: {"tracker": {"name": "ntech"}, "clips": [clip(real.video_id, "0_10", frames, boxes)]},
        fake.video_id: {
            "tracker": {"name": "ntech"},
            "clips": [
                clip(fake.video_id, "2_10", frames, boxes, {"clip_id": f"{real.video_id}/0_10", "iou": 0.93}),
                clip(
                    fake.video_id,
                    "3_10",
                    frames,
                    [[1, 0, 11, 20]] * 3,
                    {"clip_id": f"{real.video_id}/0_10", "iou": 0.9},
                ),
                clip(fake.video_id, "4_0", frames, boxes, {"clip_id": f"{real.video_id}/9_9", "iou": 0.8}),
            ],
        },
        other.video_id: {"tracker": {"name": "ntech"}, "clips": [clip(other.video_id, "0_0", frames, boxes)]},
    }
    records = [real, fake, other]
    frame = build_index(records, manifests, assign_splits(records))
    assert list(frame.columns) == list(COLUMNS)
    rows = frame.set_index("clip_id")
    assert rows.loc["dfdc_train_part_0/b.mp4/2_10", "pair_aligned"]
    assert rows.loc["dfdc_train_part_0/b.mp4/2_10", "pair_iou"] == pytest.approx(0.93)
    assert not rows.loc["dfdc_train_part_0/b.mp4/3_10", "pair_aligned"]  # paired, boxes differ
    assert rows.loc["dfdc_train_part_0/b.mp4/4_0", "pair_clip_id"] == ""  # the original clip does not exist
    assert pd.isna(rows.loc["dfdc_train_part_0/b.mp4/4_0", "pair_iou"])
    assert (
        rows.loc["dfdc_train_part_0/a.mp4/0_10", "label"] == 0
        and rows.loc["dfdc_train_part_0/a.mp4/0_10", "start_frame"] == 10
    )

    write_index(frame, tmp_path / "index.parquet")
    back = read_index(tmp_path / "index.parquet")
    pd.testing.assert_frame_equal(back, frame)
    frame.to_parquet(tmp_path / "plain.parquet")
    with pytest.raises(ValueError, match="schema version"):
        read_index(tmp_path / "plain.parquet")
    empty = build_index(records, {}, assign_splits(records))
    assert len(empty) == 0 and list(empty.columns) == list(COLUMNS)


def test_the_index_records_recipe_detector_and_what_each_label_rests_on(tmp_path):
    real, fake = dfdc("a.mp4", 0), dfdc("b.mp4", 0, 1, "a.mp4")
    frames, boxes = [10, 11, 12], [[0, 0, 10, 20]] * 3
    unseen = clip(fake.video_id, "5_10", frames, boxes, {"clip_id": f"{real.video_id}/0_10", "iou": 0.6})
    unseen["detections"]["frames"] = []  # a fragment of the fake's track, detected outside the original's window
    manifests = {
        real.video_id: {
            "tracker": {"name": "ntech"},
            "detector": {"name": "dsfd"},
            "clips": [clip(real.video_id, "0_10", frames, boxes)],
        },
        fake.video_id: {"tracker": {"name": "ntech"}, "detector": {"name": "dsfd"}, "clips": [unseen]},
    }
    frame = build_index([real, fake], manifests, assign_splits([real, fake], val_fraction=0.0), recipe="ntech")
    rows = frame.set_index("clip_id")
    assert rows.loc[f"{fake.video_id}/5_10", "label_track"] == "original"
    assert rows.loc[f"{real.video_id}/0_10", "label_track"] == "own"
    assert set(frame["recipe"]) == {"ntech"} and set(frame["detector"]) == {"dsfd"}
    write_index(
        frame, tmp_path / "index.parquet", settings={"recipe": "ntech", "detectors": ["dsfd"], "trackers": ["ntech"]}
    )
    assert read_index_settings(tmp_path / "index.parquet")["recipe"] == "ntech"
