"""The ``extract`` stage: tracks → one H.264 face clip per clip plan, fakes paired with their original's clips
(``clips/<video_id>/<clip>.mp4`` + ``.json``; ``clips/<video_id>.json`` lists them and marks the video done).

Each video is decoded once (sorted, one sequential pass) and every clip is written at the source frame rate and
the plan's fixed crop size. The default encoder settings were chosen with ``bench/storage.py`` (see
``docs/benchmarks.md``): near-lossless (training re-encodes clips for its compression augmentation: >= 45 dB PSNR
on every benchmark clip at about 1/12 of the bytes of PNG frames), ``tune=psnr`` because fidelity to the pixels
matters here, not perceived quality, yuv444p because chroma subsampling alone costs more than the quantiser does,
and a short GOP for decord's random access.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from src.faces.align import crop
from src.faces.clips import ClipPlan, pair_rng
from src.faces.pairs import PairedClip, Pairing, PairWindow, in_original_coordinates, pair_windows, pair_with_original
from src.faces.tracking import Track
from src.preprocess.runner import PIPELINE, StageContext, Upstream
from src.preprocess.track import read_tracks
from src.utils.io import write_json
from src.utils.runner import Provenance, StageReport
from src.video.io import Backend, VideoInfo, VideoWriter, open_video
from src.video.sources import VideoRecord

CLIPS_SCHEMA_VERSION = 1


@dataclass
class ClipEncoder:
    """x264 settings of the face clips.

    ``libx264`` (default) encodes YUV: at crf 6, 4:4:4 it keeps 46-49 dB PSNR on the benchmark clips, not lossless.
    ``libx264rgb`` with ``pix_fmt=rgb24`` and ``crf=0`` encodes the RGB crops themselves losslessly: decord and PyAV
    read back the exact pixels, as the seeds' PNG crops (the recipes' choice; docs/benchmarks.md).
    """

    crf: int = 6
    pix_fmt: str = "yuv444p"
    preset: str = "medium"
    keyint: int = 16
    tune: str | None = "psnr"
    codec: str = "libx264"

    def writer(self, path: str | os.PathLike, fps: float) -> VideoWriter:
        return VideoWriter(
            path,
            fps,
            crf=self.crf,
            pix_fmt=self.pix_fmt,
            preset=self.preset,
            tune=self.tune,
            keyint=self.keyint,
            codec=self.codec,
        )

    @property
    def config(self) -> dict[str, Any]:
        return asdict(self)


def cut_clips(
    video: str | os.PathLike,
    info: VideoInfo,
    plans: list[ClipPlan],
    out_dir: str | os.PathLike,
    encoder: ClipEncoder,
    backend: Backend = "pyav",
    chunk_size: int = 16,
) -> dict[str, Path]:
    """Write ``<out_dir>/<plan.name>.mp4`` for every plan; returns name -> path.

    Each file appears only once complete (atomic rename); an error aborts the clips still open.
    """
    out_dir = Path(out_dir)
    if not plans:
        return {}
    for plan in plans:
        x1, y1, x2, y2 = plan.crop_boxes[0].tolist()
        width, height = plan.frame_size or (info.width, info.height)
        if x1 < 0 or y1 < 0 or x2 > width or y2 > height:
            raise ValueError(f"{video}: clip {plan.name} crop box {plan.crop_boxes[0]} lies outside the frame")
        if plan.image_frames[-1] >= info.num_frames:
            raise ValueError(f"{video}: clip {plan.name} needs frame {plan.image_frames[-1]} of {info.num_frames}")
    paths = {plan.name: out_dir / f"{plan.name}.mp4" for plan in plans}
    wanted = np.unique(np.concatenate([plan.image_frames for plan in plans]))
    with contextlib.ExitStack() as stack:
        writers = [stack.enter_context(encoder.writer(paths[plan.name], info.fps)) for plan in plans]
        reader = stack.enter_context(open_video(video, backend, info))
        for indices, frames in reader.iter_chunk_lists(chunk_size, wanted):
            for plan, writer in zip(plans, writers, strict=True):  # a reused image is written once per clip frame
                first = np.searchsorted(plan.image_frames, indices, side="left")
                last = np.searchsorted(plan.image_frames, indices, side="right")
                for j in range(len(indices)):
                    frame = frames[j] if first[j] == last[j] or not plan.frame_size else resized(frames[j], plan)
                    for slot in range(first[j], last[j]):
                        writer.write(np.ascontiguousarray(crop(frame, plan.crop_boxes[slot])))
    return paths


def resized(frame: np.ndarray, plan: ClipPlan) -> np.ndarray:
    """A fake's frame at its original's size (``plan.frame_size``), so the original's boxes cut the same face."""
    return cv2.resize(frame, plan.frame_size, interpolation=cv2.INTER_LINEAR)


def extract_stage(ctx: StageContext, pairing: Pairing, encoder: ClipEncoder, backend: Backend = "pyav") -> StageReport:
    """Tracks → one H.264 face clip per clip plan, fakes paired with their original's clips (``clips/``)."""
    upstream = Upstream(ctx)
    records = {record.video_id: record for record in ctx.records}
    made = {"clips": 0, "pairs": 0, "MB": 0.0}

    def output(record: VideoRecord) -> Path:
        return ctx.artifact("clips", record, ".json")

    settings = {"encoder": encoder.config, "pairing": pairing.config, "backend": backend}

    def inputs(record: VideoRecord) -> dict:  # a fake's clips are paired with its original's: both tracks count
        original = records.get(record.original) if record.original else None
        fingerprint = ctx.fingerprint
        return {"tracks": fingerprint("tracks", record, ".json")} | (
            {"original_tracks": fingerprint("tracks", original, ".json")} if original else {}
        )

    made_by = Provenance("extract", CLIPS_SCHEMA_VERSION, settings, inputs)

    def process(record: VideoRecord) -> None:
        document = read_tracks(upstream.require("track", "tracks", record, ".json"))
        info = VideoInfo.from_dict(document["info"])
        tracks = [Track.from_dict(t) for t in document["tracks"]]
        clips, status = _paired_clips(ctx, upstream, pairing, records, record, document)
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
            "detector": document["detector"],
            "tracker": document["tracker"],
            "encoder": encoder.config,
            "num_tracks": len(tracks),
            "pairing": {"original": record.original, "status": status, **pairing.config},
            "seconds": round(time.perf_counter() - start, 3),
            "clips": entries,
            "made_by": made_by.made_by(record),
        }
        write_json(output(record), manifest)
        made["clips"] += len(entries)
        made["pairs"] += sum(1 for e in entries if e["pair"])
        made["MB"] = round(made["MB"] + sum(e["bytes"] for e in entries) / 2**20, 1)

    report = ctx.run("extract", process, output, made_by)
    report.stats = made
    return report


def _paired_clips(
    ctx: StageContext,
    upstream: Upstream,
    pairing: Pairing,
    records: dict[str, VideoRecord],
    record: VideoRecord,
    document: dict,
) -> tuple[list[PairedClip], str]:
    """The clips to cut from ``record`` (its tracks ``document``), paired with its original's where it has one."""
    own = [PairedClip(ClipPlan.from_dict(c)) for c in document["clips"]]
    if record.label != 1 or not record.original:
        if pairing.geometry != "per_pair":
            return own, "not a fake"
        return _windows_of_original(ctx, pairing, records, record, document)
    original = records.get(record.original)
    if original is None:
        return own, "original not in the dataset"
    path = ctx.artifact("tracks", original, ".json")
    if not path.is_file():
        cause = upstream.root_failure(original.video_id, PIPELINE[:3])
        if cause is None:
            raise FileNotFoundError(f"{path}: the original of this fake is not tracked yet; run track for it first")
        return own, f"original unusable: {cause}"
    theirs = read_tracks(path)
    return pair_with_original(
        pairing,
        _tracked(document),
        _tracked(theirs),
        _size(document),
        _size(theirs),
        VideoInfo.from_dict(document["info"]).num_frames,
        partial(_windows, pairing, theirs, document, original.video_id, record.video_id),
    )


def _windows_of_original(
    ctx: StageContext, pairing: Pairing, records: dict[str, VideoRecord], record: VideoRecord, document: dict
) -> tuple[list[PairedClip], str]:
    """``per_pair``: an original's clips are the real sides of the windows of its tracked fakes (NTech cut one real
    copy per pair; identical windows share one), plus own clips of tracks that pair with no fake."""
    plans: dict[str, ClipPlan] = {}
    fakes = [r for r in records.values() if r.original == record.video_id and r.label == 1]
    for fake in fakes:
        path = ctx.artifact("tracks", fake, ".json")
        if not path.is_file():  # not tracked (failed upstream): no pair with it
            continue
        theirs = read_tracks(path)
        tracks, crops, _ = _tracked(theirs)
        if _size(theirs) != _size(document):
            scale = (_size(document)[0] / _size(theirs)[0], _size(document)[1] / _size(theirs)[1])
            scaled = [in_original_coordinates(t, crops[t.track_id], scale, _size(document)) for t in tracks]
            tracks, crops = [t for t, _ in scaled], {t.track_id: c for t, c in scaled}
        for window in _windows(pairing, document, theirs, record.video_id, fake.video_id, None, None, tracks, crops):
            plans.setdefault(window.real.name, window.real)
    covered = {plan.track_id for plan in plans.values()}
    own = [ClipPlan.from_dict(c) for c in document["clips"]]
    clips = [PairedClip(p) for p in plans.values()] + [PairedClip(c) for c in own if c.track_id not in covered]
    return clips, f"{len(plans)} real clips for the pairs of {len(fakes)} fakes (per_pair geometry)"


def _windows(
    pairing: Pairing,
    original: dict,
    fake: dict,
    original_id: str,
    fake_id: str,
    original_tracks: list[Track] | None,
    original_crops: dict[int, np.ndarray] | None,
    fake_tracks: list[Track],
    fake_crops: dict[int, np.ndarray],
) -> list[PairWindow]:
    """The ``per_pair`` windows of one original and one fake (fake tracks already in the original's coordinates),
    with the clip length, detection step and seed of the original's tracks: the same for both videos' extraction."""
    if original_tracks is None:
        original_tracks, original_crops, _ = _tracked(original)
    tracker = original["tracker"]
    seed = tracker.get("seed", 0)
    num_frames = min(original["info"]["num_frames"], fake["info"]["num_frames"])
    return pair_windows(
        pairing,
        original_tracks,
        original_crops,
        fake_tracks,
        fake_crops,
        num_frames,
        tracker.get("clip_length", 50),
        original["detection_step"],
        lambda real_track, fake_track: pair_rng(seed, original_id, fake_id, real_track, fake_track),
        _size(original) if _size(original) != _size(fake) else None,
    )


def _tracked(document: dict) -> tuple[list[Track], dict[int, np.ndarray], list[ClipPlan]]:
    """(tracks, crop boxes per track id, clip plans) of a tracks document."""
    tracks = [Track.from_dict(t) for t in document["tracks"]]
    crops = {t["track_id"]: np.asarray(t["crop_boxes"], np.int64).reshape(-1, 4) for t in document["tracks"]}
    return tracks, crops, [ClipPlan.from_dict(c) for c in document["clips"]]


def _size(document: dict) -> tuple[int, int]:
    return document["info"]["width"], document["info"]["height"]


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
        **({"image_frames": plan.image_frames.tolist()} if plan.reuses_images else {}),
        **({"frame_size": list(plan.frame_size)} if plan.frame_size else {}),
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
