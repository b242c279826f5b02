"""Train/val selection of the RobustForensics experiments (spec robustforensics.md §4, faithful list 14).

- image models hold out whole DFDC parts 30–39 (``val_parts``);
- SlowFast models hold out a per-video subset across all parts, and the "alldata" models validate on the 400 public
  test videos (which live in train parts 0–2): both given by the seed's list files (``val_list``, e.g.
  ``DFDC-Kaggle_list/all_videos_val_sf_alignedface_jpg.txt`` or ``publicval_alignedface_png.txt``), whose lines
  ``<part>/<video>/frame%d_face1.png 1 30 10 1`` name the videos; a plain list of ``video_id`` lines works too;
- without either, the index's own ``split`` column (by original video) decides.
Training takes every other labelled clip.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd


def read_video_list(path: str | os.PathLike) -> set[str]:
    """Video ids (``<part>/<name>.mp4``) named by a seed list file or a plain one-id-per-line file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: video list not found")
    videos = set()
    for line in path.read_text().splitlines():
        field = line.split()[0] if line.strip() else ""
        if not field:
            continue
        if "%d" in field:  # seed list: <part>/<video>/frame%d_faceK.png → <part>/<video>.mp4
            field = field.rsplit("/", 1)[0] + ".mp4"
        videos.add(field)
    return videos


def train_val_split(
    index: pd.DataFrame, val_parts: Sequence[str] | None = None, val_list: str | os.PathLike | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train clips, val clips) of a clip index; the val rule is ``val_parts``, ``val_list`` or the split column."""
    if val_parts is not None and val_list is not None:
        raise ValueError("train_val_split: give val_parts or val_list, not both")
    labelled = index[index["label"] >= 0]
    if val_parts is not None:
        is_val = labelled["part"].isin(list(val_parts))
    elif val_list is not None:
        is_val = labelled["video_id"].isin(read_video_list(val_list))
    else:
        is_val = labelled["split"] == "val"
    train, val = labelled[~is_val], labelled[is_val]
    if train.empty or val.empty:
        rule = f"parts {list(val_parts)}" if val_parts is not None else (val_list or "the split column")
        raise ValueError(f"train_val_split: {len(train)} train and {len(val)} val clips with val = {rule}")
    return train.reset_index(drop=True), val.reset_index(drop=True)
