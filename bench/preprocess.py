"""Preprocessing rate per recipe: wall time per video of probe → detect → track → extract, beside one plain decode
pass of the same videos (the floor), as a ratio.

python bench/preprocess.py [videos=6] [recipes=[ntech,robustforensics]]

Recipes as ``preprocess.py`` runs them, with the detectors that work offline: ``ntech`` = NTech's sampling (every
6th frame) and tracker with MTCNN (NTech's DSFD has no weights on this machine and its config has no random-init
option, so it is not run; ``bench/detect.py`` times DSFD alone); ``robustforensics`` = RetinaFace-mnet (the real
weights from ../shared/weights) on every 2nd frame with the tube tracker. Videos: the DFDC videos of
../shared/realvideos, repeated up to ``videos`` (symlinks). The floor is a PyAV pass over every frame of every video
(RGB), timed right before each recipe in the same process; the load average is printed beside each row.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from bench.common import REPO_ROOT, SHARED, machine, markdown_table
from src.preprocess.runner import StageContext
from src.utils.cli import parse_args, setting
from src.video.io import open_video

STAGES = ["probe", "detect", "track", "extract"]
RECIPES = {
    "ntech": ["detector=mtcnn", "sampling=ntech", "tracker=ntech"],
    "robustforensics": [
        "detector=retinaface_mnet",
        f"detector.weights.path={SHARED / 'weights' / 'retinaface_mobilenet0.25_Final.pth'}",
        "sampling=robustforensics",
        "tracker=tubes",
    ],
}


def video_folder(count: int) -> Path:
    sources = sorted((SHARED / "realvideos" / "dfdc").glob("*.mp4"))
    if not sources:
        raise SystemExit(f"{SHARED / 'realvideos' / 'dfdc'}: no benchmark videos")
    folder = Path(tempfile.mkdtemp(prefix="bench_preprocess_"))
    for i in range(count):
        (folder / f"{i:03d}_{sources[i % len(sources)].name}").symlink_to(sources[i % len(sources)])
    return folder


def decode_floor(folder: Path) -> float:
    """Seconds per video of one sequential PyAV pass over every frame (RGB), nothing else."""
    videos = sorted(folder.glob("*.mp4"))
    start = time.perf_counter()
    for video in videos:
        with open_video(video, "pyav") as reader:
            for _ in reader.iter_chunk_lists(64):  # the frames as decoded, no stacking copy
                pass
    return (time.perf_counter() - start) / len(videos)


def run_recipe(folder: Path, work: Path, overrides: list[str]) -> dict[str, float]:
    """Seconds per video of each stage, run as ``preprocess.py`` runs them (in this process)."""
    with initialize_config_dir(str(REPO_ROOT / "conf"), version_base="1.3"):
        cfg = compose(
            "preprocess",
            overrides=["data=folder", f"data.root={folder}", f"paths.work_dir={work}", "progress=false", *overrides],
        )
    records = instantiate(cfg.data.source).records()
    ctx = StageContext(records=records, work_dir=Path(cfg.data.work_dir), progress=False)
    seconds = {}
    for name in STAGES:
        stage = instantiate(cfg.stages[name])
        start = time.perf_counter()
        report = stage(ctx)
        seconds[name] = (time.perf_counter() - start) / len(records)
        if report.failed:
            raise SystemExit(f"{name}: {report.failed} videos failed: {report.failures}")
    return seconds


@dataclass
class PreprocessBenchSettings:
    videos: int = setting(6, "how many videos (the DFDC videos of the real-video set, repeated)")
    recipes: list[str] = setting(list(RECIPES), f"any of {list(RECIPES)}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(PreprocessBenchSettings, argv, "python bench/preprocess.py", __doc__)
    if unknown := [name for name in args.recipes if name not in RECIPES]:
        raise SystemExit(f"python bench/preprocess.py: unknown recipes {unknown}; choose from {list(RECIPES)}")
    folder = video_folder(args.videos)
    rows = []
    for name in args.recipes:
        floor = decode_floor(folder)
        with tempfile.TemporaryDirectory() as work:
            seconds = run_recipe(folder, Path(work), RECIPES[name])
        total = sum(seconds.values())
        rows.append(
            [name, RECIPES[name][0].split("=")[1], args.videos, f"{floor:.2f}", f"{total:.2f}", f"{total / floor:.1f}",
             *(f"{seconds[s]:.2f}" for s in STAGES), f"{os.getloadavg()[0]:.1f}"]
        )  # fmt: skip
        print(markdown_table(HEADER, rows[-1:]), flush=True)
    print(f"\nvideos: {args.videos} (DFDC, 1080p, 300 frames; repeated); {machine()}")
    print(markdown_table(HEADER, rows))


HEADER = ["recipe", "detector", "videos", "decode floor s/video", "preprocess s/video", "ratio to floor",
          *(f"{s} s/video" for s in STAGES), "load avg"]  # fmt: skip


if __name__ == "__main__":
    main()
