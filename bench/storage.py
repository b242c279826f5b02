"""Face-clip storage: H.264 clips (several encoder settings) vs one PNG per frame, on the clips of real tracks.

Both seeds stored face crops as PNG files (NTech: cv2.imwrite, RobustForensics: ffmpeg). This measures, for the same
crops: disk bytes, fidelity of what decord reads back (PSNR and mean absolute difference over every pixel of every
frame, RGB), encoding speed, and the time decord needs for one random 7-frame window at step 2 (NTech's sequence
sample) inside a clip.

python preprocess.py data=realvideos run=[probe,detect,track]        # tracks of the real videos
python bench/storage.py [work=work/realvideos] [clips=30]

decord reads every row's clip; "x264rgb lossless" must show inf PSNR and MAD 0 (bit-exact RGB).
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine, markdown_table
from src.faces.align import crop
from src.faces.clips import ClipPlan
from src.preprocess.extract import ClipEncoder
from src.utils.cli import parse_args, setting
from src.utils.io import read_json
from src.video.io import open_video

SETTINGS = {
    "x264rgb lossless (crf 0, RGB; the recipes')": ClipEncoder(codec="libx264rgb", pix_fmt="rgb24", crf=0, tune=None),
    "x264 crf 0, 4:4:4 (lossless in YUV only)": ClipEncoder(crf=0, tune=None),
    "crf 4, tune psnr": ClipEncoder(crf=4),
    "crf 6, tune psnr (default)": ClipEncoder(),
    "crf 8, tune psnr": ClipEncoder(crf=8),
    "crf 12, tune psnr": ClipEncoder(crf=12),
    "crf 16, tune psnr": ClipEncoder(crf=16),
    "crf 6, no tune (psy-rd, AQ)": ClipEncoder(tune=None),
    "crf 6, 4:2:0": ClipEncoder(pix_fmt="yuv420p"),
    "crf 6, keyint 250": ClipEncoder(keyint=250),
    "crf 6, preset veryfast": ClipEncoder(preset="veryfast"),
}


def load_clips(work: Path, count: int) -> list[tuple[str, Path, ClipPlan]]:
    """The first clip of each of the first ``count`` videos that have one: (video_id, source path, plan)."""
    found = []
    for path in sorted((work / "tracks").rglob("*.json")):
        document = read_json(path)
        if document["clips"]:
            even = document["clips"][0]
            found.append((document["video"]["video_id"], Path(document["video"]["path"]), ClipPlan.from_dict(even)))
        if len(found) == count:
            break
    if not found:
        raise SystemExit(f"{work}/tracks: no clip plans found; run preprocess.py run=[probe,detect,track] first")
    return found


def crops_of(source: Path, plan: ClipPlan) -> np.ndarray:
    with open_video(source, "pyav") as reader:
        frames = reader.read(plan.source_frames)
    crops = [crop(frame, box) for frame, box in zip(frames, plan.crop_boxes, strict=True)]
    if plan.size[0] % 2 or plan.size[1] % 2:  # 4:2:0 needs even sizes: compare every setting on the same pixels
        crops = [c[: c.shape[0] // 2 * 2, : c.shape[1] // 2 * 2] for c in crops]
    return np.stack(crops)


def png_bytes(crops: np.ndarray, level: int | None) -> int:
    params = [] if level is None else [cv2.IMWRITE_PNG_COMPRESSION, level]
    return sum(len(cv2.imencode(".png", c[..., ::-1], params)[1]) for c in crops)


def measure(crops: np.ndarray, encoder: ClipEncoder, fps: float, folder: Path, rng: np.random.Generator) -> dict:
    path = folder / "clip.mp4"
    start = time.perf_counter()
    with encoder.writer(path, fps) as writer:
        writer.write(crops)
    encode = time.perf_counter() - start
    with open_video(path, "decord") as reader:
        back = reader.read(range(len(reader)))
        starts = rng.integers(0, max(1, len(crops) - 13), 10)
        start = time.perf_counter()
        for first in starts:
            reader.read(range(first, min(first + 13, len(crops)), 2))
        access = (time.perf_counter() - start) / len(starts)
    diff = back.astype(np.float64) - crops
    return {
        "bytes": path.stat().st_size,
        "sse": float(np.square(diff).sum()),
        "abs": float(np.abs(diff).sum()),
        "pixels": diff.size,
        "encode_s": encode,
        "frames": len(crops),
        "access_s": access,
    }


@dataclass
class StorageBenchSettings:
    work: Path = setting(Path("work/realvideos"), "a work dir with the tracks of preprocessed videos")
    clips: int = setting(30, "at most this many videos, one clip each")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(StorageBenchSettings, argv, "python bench/storage.py", __doc__)
    clips = load_clips(args.work, args.clips)
    rng = np.random.default_rng(0)
    totals = {name: [] for name in SETTINGS}
    png_default = png_small = 0
    decode_s = frames = 0
    with tempfile.TemporaryDirectory() as tmp:
        for video_id, source, plan in clips:
            start = time.perf_counter()
            crops = crops_of(source, plan)
            decode_s += time.perf_counter() - start
            frames += len(crops)
            png_default += png_bytes(crops, None)
            png_small += png_bytes(crops, 9)
            fps = float(open_video(source, "pyav").info.fps)
            print(f"{video_id}: clip {plan.name} {crops.shape[2]}x{crops.shape[1]} x {len(crops)} frames", flush=True)
            for name, encoder in SETTINGS.items():
                totals[name].append(measure(crops, encoder, fps, Path(tmp), rng))
    rows = [["PNG per frame (cv2 default level)", f"{png_default / 2**20:.1f}", "1.00", "inf", "0", "", ""]]
    rows.append(
        ["PNG per frame (level 9)", f"{png_small / 2**20:.1f}", f"{png_small / png_default:.2f}", "inf", "0", "", ""]
    )
    for name, results in totals.items():
        size = sum(r["bytes"] for r in results)
        mse = sum(r["sse"] for r in results) / sum(r["pixels"] for r in results)
        psnr = 10 * np.log10(255**2 / mse) if mse > 0 else float("inf")
        worst = min(10 * np.log10(255**2 / max(r["sse"] / r["pixels"], 1e-12)) for r in results)
        mad = sum(r["abs"] for r in results) / sum(r["pixels"] for r in results)
        encode_fps = sum(r["frames"] for r in results) / sum(r["encode_s"] for r in results)
        access_ms = 1000 * np.mean([r["access_s"] for r in results])
        rows.append(
            [
                name,
                f"{size / 2**20:.1f}",
                f"{size / png_default:.3f}",
                f"{psnr:.1f} (worst clip {worst:.1f})",
                f"{mad:.2f}",
                f"{encode_fps:.0f}",
                f"{access_ms:.1f}",
            ]
        )
    print(f"\n{len(clips)} clips, {frames} frames from {args.work}; source decode {frames / decode_s:.0f} frames/s")
    print(f"machine: {machine()}\n")
    header = ["storage", "MiB", "bytes vs PNG", "PSNR dB", "MAD", "encode frames/s", "decord 7-frame read ms"]
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
