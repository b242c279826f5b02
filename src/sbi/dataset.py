"""A folder of real videos → a ``data=folder`` dataset: each real video linked, its self-blended fake, labels.csv."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from tqdm import tqdm

from src.faces.detectors.base import FaceDetector
from src.sbi.blend import video_params
from src.sbi.video import fake_video
from src.utils.config import one_line
from src.utils.io import atomic_open
from src.video.sources import LABELS, VIDEO_SUFFIXES, read_labels_csv


def fake_folder(
    source: Path,
    target: Path,
    detector: FaceDetector,
    strength: float = 1.0,
    seed: int = 0,
    every: int = 2,
    crf: int = 18,
    labels: Path | None = None,
    progress: bool = True,
) -> tuple[list[str], dict[str, str]]:
    """Self-blended fakes of every real video under ``source``, as a dataset folder ``target`` for ``data=folder``.

    ``target/real/<path>`` links to each real video, ``target/fake/<path>`` is its fake (``.mp4``) and
    ``target/labels.csv`` (``filename,label,original``) pairs them. With ``labels`` (a CSV of ``source``), only the
    videos labelled REAL are used. Resumable: existing fakes are kept; a video that fails (unreadable, no face) gets one
    line and the others go on. Returns (videos done, {video: reason} for the failures).
    """
    if not source.is_dir():
        raise FileNotFoundError(f"{source}: not a folder of videos")
    videos = sorted(p.relative_to(source) for p in source.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
    videos = [
        v for v in videos if (source / v).is_file() and not (source / v).resolve().is_relative_to(target.resolve())
    ]
    if labels is not None:
        rows = read_labels_csv(labels)
        videos = [v for v in videos if LABELS.get(rows.get(v.as_posix(), {}).get("label", "").strip().upper()) == 0]
    if not videos:
        raise FileNotFoundError(f"{source}: no {'REAL-labelled ' if labels else ''}videos found")
    done, failed = [], {}
    for video in tqdm(videos, desc="self-blending", unit="video", disable=not progress):
        real, fake = target / "real" / video, (target / "fake" / video).with_suffix(".mp4")
        try:
            if not fake.is_file():
                fake_video(
                    source / video, fake, detector, video_params(seed, video.name, strength), every, crf, progress=False
                )
            real.parent.mkdir(parents=True, exist_ok=True)
            if not real.exists():
                real.symlink_to((source / video).resolve())
        except (OSError, ValueError, RuntimeError) as exc:
            failed[video.as_posix()] = one_line(exc)
            tqdm.write(f"sbi: {source / video}: {failed[video.as_posix()]}", file=sys.stderr)  # above the bar
            continue
        done.append(video.as_posix())
    with atomic_open(target / "labels.csv", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["filename", "label", "original"])
        for video in done:
            writer.writerow([f"real/{video}", "REAL", ""])
            writer.writerow([Path(f"fake/{video}").with_suffix(".mp4").as_posix(), "FAKE", f"real/{video}"])
    return done, failed
