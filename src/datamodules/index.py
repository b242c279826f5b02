"""Reading the clip index (``index.parquet``, contract in docs/artifacts.md) and choosing train/val clips and pairs."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from src.preprocess.index import read_index

REQUIRED_COLUMNS = (
    "clip_id",
    "video_id",
    "label",
    "clip_path",
    "num_frames",
    "height",
    "width",
    "fps",
    "split",
    "pair_clip_id",
    "pair_aligned",
)


def read_clip_index(path: str | os.PathLike, tracker: str | None = None) -> pd.DataFrame:
    """The index as a DataFrame, checked for the columns training needs and, with ``tracker``, that every clip was
    cut from that tracker's tracks (NTech's 50-frame clips and RobustForensics' tubes are not interchangeable)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: clip index not found; make it first with "
            "`python preprocess.py data=<dataset> data.root=<videos>` (same data= and paths.work_dir as here)"
        )
    index = read_index(path)  # refuses an index written under another schema version
    missing = [c for c in REQUIRED_COLUMNS if c not in index.columns]
    if missing:
        raise ValueError(f"{path}: index lacks columns {missing} (see docs/artifacts.md, index.parquet)")
    made_by = sorted(set(index["tracker"])) if "tracker" in index.columns else ["(unrecorded)"]
    if tracker is not None and made_by != [tracker]:
        raise ValueError(
            f"{path}: clips made by tracker {', '.join(made_by)}, this model's recipe needs tracker={tracker}: "
            f"preprocess with tracker={tracker} into its own work dir (data.work_dir=...)"
        )
    return index


def split_by_column(index: pd.DataFrame, train: str = "train", val: str = "val") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train clips, val clips) by the index's ``split`` column (by original video: no face in both)."""
    labelled = index[index["label"] >= 0]
    parts = [labelled[labelled["split"] == name].reset_index(drop=True) for name in (train, val)]
    if parts[0].empty:
        raise ValueError(f"no labelled clips with split == {train!r} in the index")
    return parts[0], parts[1]


def aligned_pairs(clips: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fake clips, their real clips), row by row: the pixel-aligned pairs NTech's mixup trains on.

    Pairs need ``pair_aligned`` (same source frames and crop boxes) and both clips in ``clips`` (one split).
    """
    by_id = clips.set_index("clip_id", drop=False)
    fakes = clips[(clips["label"] == 1) & clips["pair_aligned"].astype(bool) & clips["pair_clip_id"].isin(by_id.index)]
    reals = by_id.loc[fakes["pair_clip_id"]]
    return fakes.reset_index(drop=True), reals.reset_index(drop=True)
