"""Dataset sources: DFDC metadata.json parts, FaceForensics++ naming, labelled folders."""

from __future__ import annotations

import json

import pytest

from src.video.sources import DfdcSource, FFppSource, FolderSource


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")


def test_dfdc_parts_labels_and_originals(tmp_path):
    for part, meta in {
        "dfdc_train_part_0": {
            "aaa.mp4": {"label": "REAL", "split": "train"},
            "bbb.mp4": {"label": "FAKE", "original": "aaa.mp4", "split": "train"},
            "gone.mp4": {"label": "REAL"},
        },
        "dfdc_train_part_1": {"ccc.mp4": {"label": "REAL"}},
    }.items():
        for name in meta:
            if name != "gone.mp4":
                _touch(tmp_path / part / name)
        (tmp_path / part / "metadata.json").write_text(json.dumps(meta))
    _touch(tmp_path / "dfdc_train_part_0" / "unlisted.mp4")
    records = {r.video_id: r for r in DfdcSource(tmp_path).records()}
    assert set(records) == {
        "dfdc_train_part_0/aaa.mp4",
        "dfdc_train_part_0/bbb.mp4",
        "dfdc_train_part_0/unlisted.mp4",
        "dfdc_train_part_1/ccc.mp4",
    }
    fake = records["dfdc_train_part_0/bbb.mp4"]
    assert (fake.label, fake.original, fake.part) == (1, "dfdc_train_part_0/aaa.mp4", "dfdc_train_part_0")
    assert records["dfdc_train_part_0/aaa.mp4"].label == 0
    assert records["dfdc_train_part_0/unlisted.mp4"].label is None
    assert {r.part for r in DfdcSource(tmp_path, parts=[1]).records()} == {"dfdc_train_part_1"}
    single = DfdcSource(tmp_path / "dfdc_train_part_0").records()
    assert {r.video_id for r in single} == {"aaa.mp4", "bbb.mp4", "unlisted.mp4"}
    assert next(r for r in single if r.video_id == "bbb.mp4").original == "aaa.mp4"


def test_ffpp_naming(tmp_path):
    _touch(tmp_path / "manipulated_sequences/Deepfakes/c23/videos/519_515.mp4")
    _touch(tmp_path / "original_sequences/youtube/c23/videos/519.mp4")
    records = {r.video_id: r for r in FFppSource(tmp_path).records()}
    fake = records["manipulated_sequences/Deepfakes/c23/videos/519_515.mp4"]
    assert (fake.label, fake.method, fake.compression) == (1, "Deepfakes", "c23")
    assert fake.original == "original_sequences/youtube/c23/videos/519.mp4" and fake.original in records


def test_folder_csv_and_errors(tmp_path):
    _touch(tmp_path / "a/x.mp4")
    _touch(tmp_path / "a/y.mp4")
    (tmp_path / "labels.csv").write_text("filename,label,original\na/x.mp4,FAKE,y.mp4\na/y.mp4,REAL,\n")
    records = {r.video_id: r for r in FolderSource(tmp_path, "labels.csv").records()}
    assert records["a/x.mp4"].label == 1 and records["a/x.mp4"].original == "a/y.mp4"
    assert records["a/y.mp4"].label == 0
    with pytest.raises(FileNotFoundError, match="labels CSV not found"):
        FolderSource(tmp_path, "nope.csv")
    (tmp_path / "bad.csv").write_text("name,kind\n")
    with pytest.raises(ValueError, match="filename,label"):
        FolderSource(tmp_path, "bad.csv").records()


@pytest.mark.realdata
def test_realvideos_corpus(realvideos):
    records = {r.video_id: r for r in FolderSource(realvideos, "labels.csv").records()}
    assert len(records) == 28
    fake = records["ffpp/manipulated_sequences/Deepfakes/c40/videos/183_253.mp4"]
    assert fake.original == "ffpp/original_sequences/youtube/c40/videos/183.mp4" and fake.original in records
    assert records["dfdc/lynaeydofd.mp4"].label == 0
