"""The ``track`` stage: detections → face tracks, per-frame crop boxes and clip plans (``tracks/<video_id>.json``).

The tracker objects (``src.faces.tracking.trackers``) are the same ones prediction calls in memory. Format:
``docs/artifacts.md``.
"""

from __future__ import annotations

from pathlib import Path

from src.faces.detectors.base import VideoDetections
from src.faces.tracking.trackers import FaceTracker, detection_step
from src.preprocess.runner import StageContext, Upstream
from src.utils.io import read_json, write_json
from src.utils.runner import StageReport
from src.video.sources import VideoRecord

TRACKS_SCHEMA_VERSION = 1


def track_stage(ctx: StageContext, tracker: FaceTracker) -> StageReport:
    """Detections → tracks, per-frame crop boxes and clip plans (``tracks/<video_id>.json``)."""
    upstream = Upstream(ctx)
    made = {"tracks": 0, "clips planned": 0}

    def output(record: VideoRecord) -> Path:
        return ctx.artifact("tracks", record, ".json")

    made_by = ctx.provenance("track", TRACKS_SCHEMA_VERSION, {"tracker": tracker.config}, ("detections", ".npz"))

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
            "made_by": made_by.made_by(record),
        }
        write_json(output(record), document)
        made["tracks"] += len(tracks)
        made["clips planned"] += len(result.clips)

    report = ctx.run("track", process, output, made_by)
    report.stats = made
    return report


def read_tracks(path: Path) -> dict:
    document = read_json(path)
    if document.get("schema_version") != TRACKS_SCHEMA_VERSION:
        version = document.get("schema_version")
        raise ValueError(f"{path}: tracks schema {version}, this code reads {TRACKS_SCHEMA_VERSION}")
    return document
