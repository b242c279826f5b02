"""The training index: one row per face clip, with labels, train/val split and real↔fake pairs (``index.parquet``).

Splits never leak a face across train and val: videos are grouped by everything that ties them together (a fake
and its original; in FaceForensics++ also the video whose face was swapped in, and every compression level of one
sequence), and a whole group goes to one split. DFDC holds out whole parts (``val_parts``; RobustForensics held out
parts 30-39; a group goes to val if any of its videos lies in one); other datasets send a deterministic,
hash-chosen ``val_fraction`` of the groups to val. Unlabelled videos get the split ``test``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from src.preprocess.runner import StageContext, Upstream
from src.utils.io import atomic_path, read_json
from src.utils.runner import Provenance, StageReport
from src.video.sources import FFPP_FAKE, FFPP_REAL, VideoRecord

log = logging.getLogger(__name__)

INDEX_SCHEMA_VERSION = 1
SCHEMA_KEY = b"dfdetect_index_schema_version"
MADE_BY_KEY = b"dfdetect_made_by"  # JSON: settings, the trackers and the fingerprints of the clips it indexes
COLUMNS = {
    "clip_id": "string",
    "video_id": "string",
    "dataset": "string",
    "part": "string",
    "method": "string",
    "compression": "string",
    "label": "int64",
    "original": "string",
    "track_id": "int64",
    "clip_path": "string",
    "num_frames": "int64",
    "height": "int64",
    "width": "int64",
    "fps": "float64",
    "start_frame": "int64",
    "end_frame": "int64",
    "num_detections": "int64",
    "split": "string",
    "group": "string",
    "pair_clip_id": "string",
    "pair_iou": "float64",
    "pair_aligned": "bool",
    "tracker": "string",
    "detector": "string",
    "recipe": "string",
    "label_track": "string",
}
GEOMETRY = ("source_frames", "image_frames", "crop_boxes")  # equal in both clips of an aligned pair
SETTINGS_KEY = b"dfdetect_index_settings"  # JSON: the recipe, detectors and trackers the clips were made with


def identity_keys(record: VideoRecord) -> list[str]:
    """Names that tie a video to others whose faces it shares (its own id, its original, FF++ sequence numbers)."""
    keys = [record.video_id] + ([record.original] if record.original else [])
    if match := FFPP_FAKE.match(record.video_id):
        keys += [f"ffpp:{match['target']}", f"ffpp:{match['source']}"]
    elif match := FFPP_REAL.match(record.video_id):
        keys.append(f"ffpp:{match['target']}")
    return keys


def split_groups(records: Iterable[VideoRecord]) -> dict[str, str]:
    """video_id -> group name (the smallest key of its connected group; see :func:`identity_keys`)."""
    records = list(records)
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        parent.setdefault(key, key)
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for record in records:
        first, *others = identity_keys(record)
        for other in others:
            a, b = root(first), root(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return {r.video_id: root(r.video_id) for r in records}


def assign_splits(
    records: Iterable[VideoRecord], val_parts: Iterable[str | int] | None = None, val_fraction: float = 0.1
) -> dict[str, tuple[str, str]]:
    """video_id -> (split, group); see the module docstring."""
    records = list(records)
    groups = split_groups(records)
    held_out = None if not val_parts else {str(p) for p in val_parts}
    val_groups = set()
    for record in records:
        group = groups[record.video_id]
        if held_out is not None:
            part = record.part.rsplit("/", 1)[-1]
            if part in held_out or part.removeprefix("dfdc_train_part_") in held_out:
                val_groups.add(group)
        elif _unit_hash(group) < val_fraction:
            val_groups.add(group)
    return {
        r.video_id: (
            "test" if r.label is None else "val" if groups[r.video_id] in val_groups else "train",
            groups[r.video_id],
        )
        for r in records
    }


def build_index(
    records: Iterable[VideoRecord],
    manifests: dict[str, dict],
    splits: dict[str, tuple[str, str]],
    recipe: str = "none",
) -> pd.DataFrame:
    """One row per clip of the videos that have a clips manifest; pairs verified against the original's clips.

    ``label_track`` says what a clip's label rests on: ``own`` when the clip holds detections of the video's own
    track, ``original`` when it holds none (a paired fake clip cut in its original's window and box, whose own track
    was detected elsewhere), ``none`` for an unpaired clip without detections.
    """
    rows = []
    for record in records:
        manifest = manifests.get(record.video_id)
        if manifest is None:
            continue
        split, group = splits[record.video_id]
        for clip in manifest["clips"]:
            pair = clip.get("pair") or {}
            pair_id, aligned = pair.get("clip_id") or "", False
            if pair_id:
                original_clip = _clip(manifests, pair_id)
                if original_clip is None:  # the original's clips are missing (its extraction failed)
                    pair_id = ""
                else:
                    aligned = all(original_clip.get(k) == clip.get(k) for k in GEOMETRY)
            frames = clip["source_frames"]
            detections = len(clip["detections"]["frames"])
            rows.append(
                {
                    "clip_id": clip["clip_id"],
                    "video_id": record.video_id,
                    "dataset": record.dataset,
                    "part": record.part,
                    "method": record.method,
                    "compression": record.compression,
                    "label": -1 if record.label is None else record.label,
                    "original": record.original or "",
                    "track_id": clip["track_id"],
                    "clip_path": clip["path"],
                    "num_frames": len(frames),
                    "height": clip["size"][0],
                    "width": clip["size"][1],
                    "fps": clip["fps"],
                    "start_frame": frames[0],
                    "end_frame": frames[-1],
                    "num_detections": detections,
                    "split": split,
                    "group": group,
                    "pair_clip_id": pair_id,
                    "pair_iou": pair.get("iou", math.nan) if pair_id else math.nan,
                    "pair_aligned": aligned,
                    "tracker": manifest["tracker"]["name"],
                    "detector": (manifest.get("detector") or {}).get("name", ""),
                    "recipe": recipe,
                    "label_track": "own" if detections else "original" if pair_id else "none",
                }
            )
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return frame.astype(COLUMNS).fillna({"pair_iou": np.nan})


def write_index(
    frame: pd.DataFrame, path: str | Path, made_by: dict | None = None, settings: dict | None = None
) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    metadata = (table.schema.metadata or {}) | {SCHEMA_KEY: str(INDEX_SCHEMA_VERSION).encode()}
    if made_by is not None:
        metadata[MADE_BY_KEY] = json.dumps(made_by, sort_keys=True).encode()
    if settings is not None:
        metadata[SETTINGS_KEY] = json.dumps(settings, sort_keys=True).encode()
    with atomic_path(path) as tmp:
        pq.write_table(table.replace_schema_metadata(metadata), tmp)


def read_index(path: str | Path) -> pd.DataFrame:
    """Load ``index.parquet``, refusing schema versions this code does not know."""
    table = pq.read_table(path)
    version = (table.schema.metadata or {}).get(SCHEMA_KEY, b"?").decode()
    if version != str(INDEX_SCHEMA_VERSION):
        raise ValueError(f"{path}: index schema version {version}, this code reads {INDEX_SCHEMA_VERSION}")
    return table.to_pandas()


def read_index_settings(path: str | Path) -> dict:
    """The recipe, detectors and trackers an index was built from (``{}`` for an index written without them)."""
    raw = (pq.read_schema(path).metadata or {}).get(SETTINGS_KEY)
    return json.loads(raw) if raw else {}


def _clip(manifests: dict[str, dict], clip_id: str) -> dict | None:
    video_id, _, name = clip_id.rpartition("/")
    manifest = manifests.get(video_id)
    return None if manifest is None else next((c for c in manifest["clips"] if c["name"] == name), None)


def _unit_hash(name: str) -> float:
    return int.from_bytes(hashlib.sha1(name.encode()).digest()[:8], "big") / 2**64


def index_stage(
    ctx: StageContext,
    val_parts: list[str | int] | None = None,
    val_fraction: float = 0.1,
    filename: str = "index.parquet",
    recipe: str = "none",
) -> StageReport:
    """All clips manifests → ``<work_dir>/index.parquet`` (every video of the dataset, whatever the shard).

    ``recipe`` (the ``recipe=`` choice) is recorded in every row and, with the detectors and trackers of the
    manifests, in the file's metadata (:func:`read_index_settings`).

    Shard 0 writes it; run ``run=[index]`` once more after every shard has finished to index them all.
    """
    start = time.perf_counter()
    val_parts = None if val_parts is None else [str(part) for part in val_parts]  # plain data for the fingerprint
    upstream = Upstream(ctx)
    report = StageReport(stage="index", total=len(ctx.records))
    if ctx.shard != 0:
        log.info("index: written by shard 0 only; run run=[index] once after every shard has finished")
        report.skipped = report.total
        return report
    manifests = {}
    for record in ctx.records:
        path = ctx.artifact("clips", record, ".json")
        if path.is_file():
            manifests[record.video_id] = read_json(path)
            continue
        report.failures[record.video_id] = upstream.root_failure(record.video_id) or "not extracted yet"
    frame = build_index(ctx.records, manifests, assign_splits(ctx.records, val_parts, val_fraction), recipe)
    clips = sorted((video_id, (m.get("made_by") or {}).get("fingerprint")) for video_id, m in manifests.items())
    inputs = {
        "trackers": sorted({json.dumps(m["tracker"], sort_keys=True) for m in manifests.values()}),
        "clips": hashlib.sha256(json.dumps(clips).encode()).hexdigest()[:16],
    }
    settings = {"val_parts": val_parts, "val_fraction": val_fraction, "recipe": recipe}
    made_by = Provenance("index", INDEX_SCHEMA_VERSION, settings, lambda _: inputs).made_by(None)
    made_with = {
        "recipe": recipe,
        "detectors": sorted({(m.get("detector") or {}).get("name", "") for m in manifests.values()}),
        "trackers": sorted({m["tracker"]["name"] for m in manifests.values()}),
    }
    write_index(frame, ctx.work_dir / filename, made_by, made_with)
    report.done = len(manifests)
    report.seconds = time.perf_counter() - start
    clips_bytes = sum(c["bytes"] for m in manifests.values() for c in m["clips"])
    report.stats = {
        "videos": len(manifests),
        "tracks": sum(m["num_tracks"] for m in manifests.values()),
        "clips": len(frame),
        "pairs": int((frame["pair_clip_id"] != "").sum()),
        "aligned pairs": int(frame["pair_aligned"].sum()),
        "pairs across sizes": _pairs_across_sizes(frame, manifests),
        "paired clips without own detections": int((frame["label_track"] == "original").sum()),
        "splits": frame.groupby("split")["clip_id"].count().to_dict(),
        "clips MB": round(clips_bytes / 2**20, 1),
    }
    if report.failures:
        log.warning("index: %d videos have no clips: %s", report.failed, _first(report.failures))
    if clipless := {v: _no_clip_reason(m) for v, m in manifests.items() if not m["clips"]}:
        log.warning("index: %d videos yielded no clip: %s", len(clipless), _first(clipless))
    if (frame["label"] >= 0).any() and not (frame["split"] == "val").any():
        log.warning(
            "index: every labelled clip is in train, none in val (too few face groups for val_fraction=%s): "
            "training will have no validation; add videos or raise val_fraction / set val_parts",
            val_fraction,
        )
    log.info("index: %d clips of %d videos -> %s", len(frame), len(manifests), ctx.work_dir / filename)
    return report


def _no_clip_reason(manifest: dict) -> str:
    if manifest["num_tracks"]:
        return f"{manifest['num_tracks']} face tracks, none long enough for a clip"
    return "faces too few to form a track, or none found"


def _pairs_across_sizes(frame: pd.DataFrame, manifests: dict[str, dict]) -> int:
    """Paired fake clips whose original has another frame size (aligned in the original's coordinates)."""
    size = {v: (m["info"]["width"], m["info"]["height"]) for v, m in manifests.items()}
    paired = frame[frame["pair_clip_id"] != ""]
    originals = [clip_id.rpartition("/")[0] for clip_id in paired["pair_clip_id"]]
    return sum(size.get(o) != size.get(v) for o, v in zip(originals, paired["video_id"], strict=True))


def _first(failures: dict[str, str], count: int = 3) -> str:
    shown = [f"{k} ({v})" for k, v in list(failures.items())[:count]]
    return "; ".join(shown) + (" ..." if len(failures) > count else "")
