"""Face detection speed per detector and input scale on sampled frames of a 1080p DFDC video.

python bench/detect.py [video=PATH] [frames=16] [repeats=2] [device=cpu] [only=[mtcnn,retinaface_mnet]]

Decoding is excluded (frames are decoded once up front); each row is the best of ``repeats`` passes after one
warm-up batch. RetinaFace MobileNet-0.25 runs with the real weights from ``../shared/weights`` when present; DSFD and
RetinaFace-R50 run randomly initialised (their speed does not depend on the weights, only on the number of boxes
that survive the score filter, which is capped by ``top_k``/NMS). Detectors are built from their Hydra configs in
``conf/detector/`` with the overrides shown in the table.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hydra.utils import instantiate

from bench.common import DFDC_1080P, SHARED, best_of, machine, markdown_table
from src.utils.cli import parse_args, setting
from src.utils.config import compose_config
from src.video.io import open_video, probe

MNET_WEIGHTS = SHARED / "weights" / "retinaface_mobilenet0.25_Final.pth"

# (detector config, overrides, what the row means)
CASES: list[tuple[str, list[str], str]] = [
    ("mtcnn", ["detector.max_size=480"], "longer side 480"),
    ("mtcnn", [], "longer side 640 (default)"),
    ("mtcnn", ["detector.max_size=960"], "longer side 960"),
    ("mtcnn", ["detector.max_size=null"], "full 1920x1080"),
    ("retinaface_mnet", [], "shorter side 400 (RobustForensics)"),
    ("retinaface_mnet", ["detector.transform.short_side=720"], "shorter side 720"),
    ("retinaface_r50", ["detector.weights=null"], "shorter side 400"),
    ("dsfd", ["detector.weights=null"], "area 512x512 = 683x384 (NTech training)"),
    ("dsfd_predict", ["detector.weights=null"], "longer side 512, padded (NTech predict)"),
]


def build(detector: str, overrides: list[str], device: str):
    cfg = compose_config("preprocess", [f"detector={detector}", f"detector.device={device}", *overrides])
    if detector.startswith("retinaface_mnet"):
        if not MNET_WEIGHTS.is_file():
            return None
        cfg.detector.weights.path = str(MNET_WEIGHTS)
    return instantiate(cfg.detector)


@dataclass
class DetectBenchSettings:
    video: Path = setting(DFDC_1080P, "the 1080p video whose frames are timed")
    frames: int = setting(16, "frames per timed pass (every 6th of the video)")
    repeats: int = setting(2, "timed passes; the best counts")
    device: str = setting("cuda" if torch.cuda.is_available() else "cpu", "cpu, cuda, cuda:1")
    only: list[str] = setting([], "detector configs to run, e.g. only=[mtcnn,retinaface_mnet] (empty: all)")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(DetectBenchSettings, argv, "python bench/detect.py", __doc__)
    if not args.video.is_file():
        raise SystemExit(f"{args.video}: benchmark video not found (pass video=PATH)")
    info = probe(args.video)
    indices = np.arange(0, info.num_frames, 6)[: args.frames]
    with open_video(args.video, "pyav", info=info) as reader:
        frames = reader.read(indices)
    only = set(args.only)
    rows = []
    for name, overrides, meaning in CASES:
        if only and name not in only:
            continue
        detector = build(name, overrides, args.device)
        if detector is None:
            rows.append([name, meaning, "weights missing", "", ""])
            continue
        detector.detect(frames[: min(4, len(frames))])  # warm-up: allocator, cuDNN autotune, prior caches

        def run(detector=detector):
            return detector.detect(frames)

        seconds = best_of(run, args.repeats)
        random_init = "detector.weights=null" in overrides
        faces = "random init" if random_init else f"{np.mean([len(f) for f in detector.detect(frames[:4])]):.1f}"
        rows.append([name, meaning, f"{len(frames) / seconds:.2f}", f"{1000 * seconds / len(frames):.0f}", faces])
        print(f"{name} {meaning}: {len(frames) / seconds:.2f} frames/s", flush=True)
        del detector
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nvideo: {args.video.name} {info.width}x{info.height}, {len(frames)} frames (every 6th); "
          f"device {args.device}; machine: {machine()}; load average at the end: {load}")  # fmt: skip
    print(markdown_table(["detector", "input", "frames/s", "ms/frame", "faces/frame"], rows))


if __name__ == "__main__":
    main()
