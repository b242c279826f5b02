"""The ``track``, ``extract`` and ``index`` stages of ``preprocess.py``: artifact I/O around the pure functions.

detect → ``tracks/<video_id>.json`` → ``clips/<video_id>/<clip>.mp4`` (+ ``.json``; ``clips/<video_id>.json`` lists
them and marks the video done) → ``index.parquet``. Formats: ``docs/artifacts.md``.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from pathlib import Path

import numpy as np

from src.preprocess.clips import ClipPlan
from src.preprocess.datasets import VideoRecord
from src.preprocess.detectors.base import VideoDetections
from src.preprocess.extract import ClipEncoder, cut_clips
from src.preprocess.index import assign_splits, build_index, write_index
from src.preprocess.pairs import PairedClip, Pairing
from src.preprocess.pipeline import StageContext
from src.preprocess.runner import StageReport
from src.preprocess.trackers import FaceTracker, detection_step
from src.preprocess.tracking import Track
from src.preprocess.video import Backend, VideoInfo, probe
from src.utils.io import read_json, write_json

log = logging.getLogger(__name__)

TRACKS_SCHEMA_VERSION = 1
CLIPS_SCHEMA_VERSION = 1
UPSTREAM = ("extract", "track", "detect", "probe")  # latest first: the first failure found is the nearest cause


class Upstream:
    """Reads what earlier stages left for a video, with one clear error when it is missing."""

    def __init__(self, ctx: StageContext):
        self.ctx = ctx
        self._failures: dict[str, dict[str, str]] = {}

    def failure(self, stage: str, video_id: str) -> str | None:
        """The error a stage reported for a video (any shard), or None."""
        if stage not in self._failures:
            failed = {}
            for path in sorted(self.ctx.report_dir.glob(f"{stage}-shard*.jsonl")):
                for line in path.read_text(encoding="utf-8").splitlines():
                    if line.strip():
                        row = json.loads(line)
                        failed[row["video_id"]] = row["error"]
            self._failures[stage] = failed
        return self._failures[stage].get(video_id)

    def earlier_failure(self, video_id: str, stages: tuple[str, ...] = UPSTREAM) -> str | None:
        """``<stage> failed: <cause>`` for the first of ``stages`` that reported this video, or None."""
        for stage in stages:
            if cause := self.failure(stage, video_id):
                return f"{stage} failed: {cause}"
        return None

    def require(self, stage: str, folder: str, record: VideoRecord, suffix: str) -> Path:
        """The artifact ``stage`` wrote for ``record``; if absent, an error naming why (an earlier failure)."""
        path = self.ctx.artifact(folder, record, suffix)
        if path.is_file():
            return path
        stages = UPSTREAM[UPSTREAM.index(stage) :]
        cause = self.earlier_failure(record.video_id, stages)
        if cause:
            raise FileNotFoundError(f"{record.path}: skipped, {cause}")
        raise FileNotFoundError(f"{path}: missing; run the {stage} stage for this video first")

    def info(self, record: VideoRecord) -> VideoInfo:
        path = self.ctx.artifact("probe", record, ".json")
        if path.is_file():
            fields = read_json(path)["info"]
            fields.pop("duration", None)
            return VideoInfo(**fields)
        return probe(record.path)


def track_stage(ctx: StageContext, tracker: FaceTracker) -> StageReport:
    """Detections → tracks, per-frame crop boxes and clip plans (``tracks/<video_id>.json``)."""
    upstream = Upstream(ctx)
    made = {"tracks": 0, "clips planned": 0}

    def output(record: VideoRecord) -> Path:
        return ctx.artifact("tracks", record, ".json")

    def process(record: VideoRecord) -> None:
        detections = VideoDetections.load(upstream.require("detect", "detections", record, ".npz"))
        info = upstream.info(record)
        result = tracker(detections, info, record.video_id)
        tracks = [
            track.to_dict() | {"crop_boxes": boxes.tolist()}
            for track, boxes in zip(result.tracks, result.crop_boxes, strict=True)
        ]
        document = {
            "schema_version": TRACKS_SCHEMA_VERSION,
            "video": record.to_dict(),
            "info": info.to_dict(),
            "detector": detections.meta.get("detector"),
            "tracker": tracker.config,
            "sampled_frames": len(detections),
            "detection_step": detection_step(detections),
            "tracks": tracks,
            "clips": [plan.to_dict() for plan in result.clips],
        }
        write_json(output(record), document)
        made["tracks"] += len(tracks)
        made["clips planned"] += len(result.clips)

    report = ctx.run("track", process, output)
    report.stats = made
    return report


def read_tracks(path: Path) -> dict:
    document = read_json(path)
    if document.get("schema_version") != TRACKS_SCHEMA_VERSION:
        raise ValueError(f"{path}: tracks schema {document.get('schema_version')}, this code reads 1")
    return document


def extract_stage(ctx: StageContext, pairing: Pairing, encoder: ClipEncoder, backend: Backend = "pyav") -> StageReport:
    """Tracks → one H.264 face clip per clip plan, fakes paired with their original's clips (``clips/``)."""
    upstream = Upstream(ctx)
    records = {record.video_id: record for record in ctx.records}
    made = {"clips": 0, "pairs": 0, "MB": 0.0}

    def output(record: VideoRecord) -> Path:
        return ctx.artifact("clips", record, ".json")

    def process(record: VideoRecord) -> None:
        document = read_tracks(upstream.require("track", "tracks", record, ".json"))
        info = VideoInfo(**{k: v for k, v in document["info"].items() if k != "duration"})
        tracks = [Track.from_dict(t) for t in document["tracks"]]
        plans = [ClipPlan.from_dict(c) for c in document["clips"]]
        clips, status = _pair(record, info, tracks, plans)
        folder = ctx.work_dir / "clips" / record.video_id
        if folder.exists():  # leftovers of an interrupted or older run of this video
            shutil.rmtree(folder)
        start = time.perf_counter()
        paths = cut_clips(record.path, info, [c.plan for c in clips], folder, encoder, backend)
        entries = []
        for clip in clips:
            entry = _clip_entry(ctx, record, info, clip, tracks, paths[clip.plan.name], encoder)
            write_json(paths[clip.plan.name].with_suffix(".json"), entry)
            entries.append(entry)
        manifest = {
            "schema_version": CLIPS_SCHEMA_VERSION,
            "video": record.to_dict(),
            "info": info.to_dict(),
            "tracker": document["tracker"],
            "encoder": encoder.config,
            "num_tracks": len(tracks),
            "pairing": {"original": record.original, "status": status, **pairing.config},
            "seconds": round(time.perf_counter() - start, 3),
            "clips": entries,
        }
        write_json(output(record), manifest)
        made["clips"] += len(entries)
        made["pairs"] += sum(1 for e in entries if e["pair"])
        made["MB"] = round(made["MB"] + sum(e["bytes"] for e in entries) / 2**20, 1)

    def _pair(
        record: VideoRecord, info: VideoInfo, tracks: list[Track], plans: list[ClipPlan]
    ) -> tuple[list[PairedClip], str]:
        own = [PairedClip(plan) for plan in plans]
        if record.label != 1 or not record.original:
            return own, "not a fake"
        original = records.get(record.original)
        if original is None:
            return own, "original not in the dataset"
        path = ctx.artifact("tracks", original, ".json")
        if not path.is_file():
            cause = upstream.earlier_failure(original.video_id, UPSTREAM[1:])
            if cause is None:
                raise FileNotFoundError(f"{path}: the original of this fake is not tracked yet; run track for it first")
            return own, f"original unusable: {cause}"
        document = read_tracks(path)
        original_info = document["info"]
        rule = pairing
        if (original_info["width"], original_info["height"]) != (info.width, info.height):
            rule = Pairing("own", pairing.min_detections, pairing.min_iou)  # boxes cannot be shared across sizes
        clips = rule.pair(
            tracks,
            plans,
            [Track.from_dict(t) for t in document["tracks"]],
            [ClipPlan.from_dict(c) for c in document["clips"]],
            num_frames=info.num_frames,
        )
        paired = sum(1 for c in clips if c.pair_clip)
        return clips, f"{paired} of {len(clips)} clips paired ({rule.geometry} geometry)"

    report = ctx.run("extract", process, output)
    report.stats = made
    return report


def _clip_entry(
    ctx: StageContext,
    record: VideoRecord,
    info: VideoInfo,
    clip: PairedClip,
    tracks: list[Track],
    path: Path,
    encoder: ClipEncoder,
) -> dict:
    plan = clip.plan
    track = next(t for t in tracks if t.track_id == plan.track_id)
    inside = track.detected & (track.frames >= plan.source_frames[0]) & (track.frames <= plan.source_frames[-1])
    pair_id = f"{record.original}/{clip.pair_clip}" if clip.pair_clip else None
    return {
        "schema_version": CLIPS_SCHEMA_VERSION,
        "clip_id": f"{record.video_id}/{plan.name}",
        "video_id": record.video_id,
        "track_id": plan.track_id,
        "name": plan.name,
        "path": path.relative_to(ctx.work_dir).as_posix(),
        "source_frames": plan.source_frames.tolist(),
        "crop_boxes": plan.crop_boxes.tolist(),
        "size": list(plan.size),
        "fps": info.fps,
        "encoder": encoder.config,
        "bytes": path.stat().st_size,
        "detections": {
            "frames": track.frames[inside].tolist(),
            "boxes": np.round(track.boxes[inside].astype(np.float64), 2).tolist(),
            "scores": np.round(track.scores[inside].astype(np.float64), 4).tolist(),
        },
        "paired_with": pair_id if clip.aligned else None,
        "pair": None
        if pair_id is None
        else {"clip_id": pair_id, "iou": None if math.isnan(clip.pair_iou) else round(clip.pair_iou, 4)}
        | {"aligned": clip.aligned},
    }


def index_stage(
    ctx: StageContext,
    val_parts: list[str | int] | None = None,
    val_fraction: float = 0.1,
    filename: str = "index.parquet",
) -> StageReport:
    """All clips manifests → ``<work_dir>/index.parquet`` (every video of the dataset, whatever the shard)."""
    start = time.perf_counter()
    upstream = Upstream(ctx)
    report = StageReport(stage="index", total=len(ctx.records))
    manifests = {}
    for record in ctx.records:
        path = ctx.artifact("clips", record, ".json")
        if path.is_file():
            manifests[record.video_id] = read_json(path)
            continue
        report.failures[record.video_id] = upstream.earlier_failure(record.video_id) or "not extracted yet"
    frame = build_index(ctx.records, manifests, assign_splits(ctx.records, val_parts, val_fraction))
    write_index(frame, ctx.work_dir / filename)
    report.done = len(manifests)
    report.seconds = time.perf_counter() - start
    clips_bytes = sum(c["bytes"] for m in manifests.values() for c in m["clips"])
    report.stats = {
        "videos": len(manifests),
        "tracks": sum(m["num_tracks"] for m in manifests.values()),
        "clips": len(frame),
        "pairs": int((frame["pair_clip_id"] != "").sum()),
        "aligned pairs": int(frame["pair_aligned"].sum()),
        "splits": frame.groupby("split")["clip_id"].count().to_dict(),
        "clips MB": round(clips_bytes / 2**20, 1),
    }
    if report.failures:
        log.warning("index: %d videos have no clips: %s", report.failed, _first(report.failures))
    log.info("index: %d clips of %d videos -> %s", len(frame), len(manifests), ctx.work_dir / filename)
    return report


def _first(failures: dict[str, str], count: int = 3) -> str:
    shown = [f"{k} ({v})" for k, v in list(failures.items())[:count]]
    return "; ".join(shown) + (" ..." if len(failures) > count else "")
