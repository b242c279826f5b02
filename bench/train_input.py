"""The training input pipeline's compression augmentation: what windowed re-encoding changes and what it saves.

python bench/train_input.py [draws=3] [samples=24] [warmups=[0,4,8,16]] [models=[b7_seq,tiny]]

Clips: 50-frame face clips cut from the DFDC videos of ../shared/realvideos (MTCNN on one frame, a square of 1.6x
the face box around it, encoded with the extract stage's settings), two per video.

1. Equivalence. For ``draws`` random compression parameters per clip (the recipe's distribution, p = 1), the 7
   frames a sample uses (19, 21, ..., 31) are re-encoded (a) with the whole clip, NTech's way (``warmup=None``), twice
   (libx264 with B-frames is not bit-reproducible: the second run is the noise floor), and (b) with only a window of
   ``warmup`` frames before and ``lookahead`` after them. Per setting: mean PSNR (dB, against the uncompressed frames
   scaled to the output size) and blockiness (luma: mean absolute step across 8-pixel block edges / elsewhere) of
   the used frames, and the mean absolute difference of those from (a).
2. Speed. Samples/s of the model's training dataset in one process with one torch thread (one data-loader worker),
   at the recipe's compression probability (0.5), whole-clip vs windowed, alternating, each twice; the load average
   is printed beside every row (the machine may be shared).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import SHARED, machine, markdown_table
from bench.train_step import model_config
from src.datamodules.ntech.compression import VideoCompression, fps_schedule, remap_indices
from src.faces.detectors.compose import compose_detector
from src.preprocess.extract import ClipEncoder
from src.utils.cli import parse_args, setting
from src.video.io import open_video

USED = np.arange(19, 32, 2)


def face_clips(folder: Path, length: int = 50) -> list[Path]:
    """Two 50-frame face clips per DFDC video (frames 0-49 and 150-199), at their native crop size."""
    detector = compose_detector("mtcnn", device="cpu")
    encoder = ClipEncoder()
    out = []
    for video in sorted((SHARED / "realvideos" / "dfdc").glob("*.mp4")):
        for start in (0, 150):
            with open_video(video, "pyav") as reader:
                frames = reader.read(range(start, start + length))
            found = detector(frames[length // 2 : length // 2 + 1])[0]
            if not len(found.boxes):
                continue
            x1, y1, x2, y2 = np.asarray(found.boxes[0], float)
            side = int(1.6 * max(x2 - x1, y2 - y1)) // 2 * 2
            cx, cy = int((x1 + x2) / 2), int((y1 + y2) / 2)
            h, w = frames.shape[1:3]
            left, top = min(max(0, cx - side // 2), w - side), min(max(0, cy - side // 2), h - side)
            path = folder / f"{video.stem}_{start}.mp4"
            with encoder.writer(path, 30.0) as writer:
                writer.write(frames[:, top : top + side, left : left + side])
            out.append(path)
    return out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / max(mse, 1e-10)))


def blockiness(frames: np.ndarray) -> float:
    """Mean absolute luma step across 8-pixel block edges over the mean step elsewhere (1: no block structure)."""
    ratios = []
    for frame in frames:
        luma = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float64)
        for steps in (np.abs(np.diff(luma, axis=1)), np.abs(np.diff(luma, axis=0)).T):
            edge = np.arange(steps.shape[1]) % 8 == 7  # the step between pixel 8k+7 and 8k+8
            ratios.append(steps[:, edge].mean() / max(steps[:, ~edge].mean(), 1e-6))
    return float(np.mean(ratios))


def equivalence(clips: list[Path], draws: int, warmups: list[int], lookahead: int) -> list[list[object]]:
    base = VideoCompression(p=1.0)
    rng = np.random.default_rng(0)
    settings = {"whole clip (NTech)": None, "whole clip, 2nd run": None}
    settings |= {f"window: {w} before, {lookahead} after": w for w in warmups}
    stats: dict[str, list[tuple[float, float, float]]] = {name: [] for name in settings}
    for path in clips:
        with open_video(path, "decord") as reader:
            clip = reader.read(range(len(reader)))
        for _ in range(draws):
            params = base.sample(rng)
            height, width = params.size(*clip.shape[1:3])
            reference = np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in clip])
            first = None
            for name, warmup in settings.items():
                compression = dataclasses.replace(base, warmup=warmup, lookahead=lookahead)
                used = compression.frames(lambda i: clip[i], len(clip), USED, params)  # noqa: B023
                first = used if first is None else first
                # the reference frame behind each used output frame: the clip frame the fps filter picked
                schedule = fps_schedule(len(clip), 30.0, params.fps)
                behind = schedule[remap_indices(USED, len(clip), len(schedule))]
                stats[name].append(
                    (
                        np.mean([psnr(u, r) for u, r in zip(used, reference[behind], strict=True)]),
                        blockiness(used),
                        float(np.abs(used.astype(int) - first.astype(int)).mean()),
                    )
                )
    rows = []
    whole = np.array(stats["whole clip (NTech)"])
    for name, values in stats.items():
        v = np.array(values)
        rows.append(
            [
                name,
                len(v),
                f"{v[:, 0].mean():.2f}",
                f"{(v[:, 0] - whole[:, 0]).mean():+.2f} (max abs {np.abs(v[:, 0] - whole[:, 0]).max():.2f})",
                f"{v[:, 1].mean():.3f}",
                f"{(v[:, 1] - whole[:, 1]).mean():+.3f}",
                f"{v[:, 2].mean():.2f}",
            ]
        )
    return rows


def pair_index(clip: Path) -> pd.DataFrame:
    """An aligned pair made of one clip twice (speed only depends on the clip's size and length)."""
    with open_video(clip, "decord") as reader:
        height, width, length = reader.info.height, reader.info.width, len(reader)
    rows = [
        {
            "clip_id": name, "video_id": f"{name}.mp4", "label": label, "clip_path": clip.name,
            "num_frames": length, "height": height, "width": width, "fps": 30.0, "split": "train",
            "pair_clip_id": "real" if label else "", "pair_aligned": bool(label),
        }
        for name, label in (("real", 0), ("fake", 1))
    ]  # fmt: skip
    return pd.DataFrame(rows)


def whole_clip_frames(self, row: pd.Series, indices: np.ndarray, params) -> np.ndarray:
    """The pipeline before windowing (the baseline): read every frame of the clip, re-encode and decode all of them,
    then pick the used ones."""
    if params is None:
        return self._read(row, indices)
    clip = self._read(row, np.arange(int(row["num_frames"])))
    decoded = self.compression(clip, params, float(row["fps"]))
    return decoded[remap_indices(indices, len(clip), len(decoded))]


def rate(model, clips: pd.DataFrame, root: Path, windowed: bool, samples: int) -> float:
    dataset = instantiate_dataset(model, clips, root)
    dataset.compression = dataclasses.replace(dataset.compression, p=0.5)
    if not windowed:
        dataset._frames = whole_clip_frames.__get__(dataset)
    dataset[(0, 0)]
    start = time.perf_counter()
    for i in range(samples):
        dataset[(0, i + 1)]  # the same seeds (so the same compression draws) for every setting
    return samples / (time.perf_counter() - start)


def instantiate_dataset(model, clips: pd.DataFrame, root: Path):
    from hydra.utils import instantiate

    return instantiate(model.train_dataset)(clips, root)


@dataclasses.dataclass
class TrainInputBenchSettings:
    draws: int = setting(3, "compression parameter draws per clip")
    warmups: list[int] = setting([0, 4, 8, 16], "re-encoded frames before the used ones, one row each")
    lookahead: int = setting(VideoCompression.lookahead, "re-encoded frames after the used ones")
    samples: int = setting(24, "pipeline samples timed per setting")
    models: list[str] = setting(["b7_seq", "tiny"], "model configs whose training dataset is timed")
    skip_equivalence: bool = setting(False, "time the pipeline only")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(TrainInputBenchSettings, argv, "python bench/train_input.py", __doc__)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        clips = face_clips(Path(tmp))
        print(f"{len(clips)} face clips; machine: {machine()}", flush=True)
        if not args.skip_equivalence:
            rows = equivalence(clips, args.draws, args.warmups, args.lookahead)
            header = ["re-encoding", "samples", "PSNR dB", "vs whole clip", "blockiness", "vs whole clip",
                      "mean abs diff from whole clip (0-255)"]  # fmt: skip
            print(markdown_table(header, rows), flush=True)
        default = VideoCompression.warmup
        speed = []
        for model_name in args.models:
            model = model_config(model_name)
            for repeat in range(2):
                for label, windowed in (("whole clip (before)", False), (f"window {default} (after)", True)):
                    value = rate(model, pair_index(clips[0]), Path(tmp), windowed, args.samples)
                    load = os.getloadavg()[0]
                    speed.append([model_name, label, repeat + 1, f"{value:.2f}", f"{load:.1f}"])
                    print(markdown_table(["model", "compression", "run", "samples/s", "load"], speed[-1:]), flush=True)
        print(markdown_table(["model", "compression", "run", "samples/s (p 0.5, one worker)", "load avg"], speed))


if __name__ == "__main__":
    main()
