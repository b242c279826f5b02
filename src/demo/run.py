"""The demo's steps, each the command a user would type: build the data, preprocess.py, train.py, export, predict.py,
evaluate; then a picture and a summary. Every step runs as its own process, exactly as documented in the README."""

from __future__ import annotations

import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: the demo draws into files, on machines without a display
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from hydra.utils import instantiate
from PIL import Image

from src.demo.dataset import build_demo_dataset
from src.faces.detectors.compose import compose_detector
from src.inference.pipeline import Predictor
from src.utils.config import compose_config
from src.utils.io import atomic_path, read_json
from src.utils.paths import REPO_ROOT

# The demo's faces are 50-60 px in 176×144 clips, and its SBI fakes are blurred or sharpened on purpose: MTCNN scores
# some of them 0.92-0.97, under the default's 0.97 (a guard against patterned cloth in 1080p DFDC frames).
DETECTOR = ["detector.min_score=0.9"]
# Demo clips are 50 frames: at 15 fps a track has 25 frames and 9 detections; NTech's 7-detection minimum would drop
# a face missed twice.
ENSEMBLE = ["ensemble=tiny", "ensemble.members.frame=null", "ensemble.tracker.t_min=3"]


@dataclass(frozen=True)
class DemoPaths:
    """Where every output of the demo goes, below ``<work_dir>/demo``."""

    work_dir: Path

    @property
    def root(self) -> Path:
        return self.work_dir / "demo"

    @property
    def test_videos(self) -> Path:
        return self.root / "test_videos"

    @property
    def labels(self) -> Path:
        return self.test_videos / "metadata.json"

    @property
    def train_dir(self) -> Path:
        return self.root / "train"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def submission(self) -> Path:
        return self.root / "submission.csv"

    @property
    def reports(self) -> Path:
        return self.root / "submission_report"

    @property
    def eval_dir(self) -> Path:
        return self.root / "eval"


# A fixed number of compute threads in every step (torch's and OpenCV's pools sum in a thread-count-dependent order;
# the environment, e.g. a test runner's OMP_NUM_THREADS, must not change the result), seeds everywhere and
# deterministic algorithms in training (conf/experiment/demo.yaml). Two: the 2-core machines the demo is timed on
# (one thread made the quick demo about twice as slow). H.264 encoding of the demo clips is still not bit-stable.
THREADS = "2"


def fixed_threads() -> None:
    """This process's compute pools to ``THREADS`` (the demo's own MTCNN and figure)."""
    import cv2
    import torch

    torch.set_num_threads(int(THREADS))
    cv2.setNumThreads(int(THREADS))


def run_step(title: str, args: list[str]) -> float:
    """Run one pipeline command from the repository root, echoing it; returns its seconds. Stops the demo on failure."""
    print(f"\n=== {title}\n$ {shlex.join(args)}", flush=True)
    start = time.perf_counter()
    env = os.environ | {name: THREADS for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENCV_NUM_THREADS")}
    result = subprocess.run(args, cwd=REPO_ROOT, check=False, env=env)
    if result.returncode != 0:
        raise SystemExit(f"demo: step '{title}' failed (exit {result.returncode}): {shlex.join(args)}")
    return time.perf_counter() - start


def pipeline_commands(paths: DemoPaths, steps: int) -> dict[str, list[str]]:
    py = sys.executable
    work = f"paths.work_dir={paths.work_dir}"
    return {
        "preprocess (probe, detect, track, extract, index)": [
            py,
            "preprocess.py",
            "data=demo",
            work,
            *DETECTOR,
            f"hydra.run.dir={paths.root / 'logs' / 'preprocess'}",
        ],
        "train (tiny sequence model, CPU)": [
            py,
            "train.py",
            "experiment=demo",
            work,
            f"model.max_steps={steps}",
            f"hydra.run.dir={paths.train_dir}",
        ],
        "export": [
            py,
            "-m",
            "src.models.export",
            f"ckpt={paths.train_dir / 'checkpoints' / 'last.ckpt'}",
            f"out={paths.models}",
            "name=tiny_seq",
        ],
        "predict (held-out videos)": [
            py,
            "predict.py",
            f"videos={paths.test_videos}",
            f"out={paths.submission}",
            f"models_dir={paths.models}",
            *ENSEMBLE,
            *DETECTOR,
            "device=cpu",
            "overwrite=true",
            f"hydra.run.dir={paths.root / 'logs' / 'predict'}",
        ],
    }


def evaluate_command(paths: DemoPaths, timelines: list[str]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "src.inference.evaluate",
        f"submission={paths.submission}",
        f"labels={paths.labels}",
        f"out={paths.eval_dir}",
        f"timeline={json.dumps(timelines)}",  # a YAML flow list, whatever the file names hold
    ]


def demo_predictor(paths: DemoPaths):
    """The predict step's :class:`~src.inference.pipeline.Predictor` (same config), in this process."""
    overrides = [f"models_dir={paths.models}", "videos=unused", *ENSEMBLE, *DETECTOR, "device=cpu"]
    cfg = compose_config("predict", overrides)
    return Predictor(instantiate(cfg.ensemble), instantiate(cfg.detector), fp16=False)


def demo_figure(paths: DemoPaths, out: Path, count: int = 6) -> Path:
    """Held-out real faces above their self-blended fakes, each with the model's P(fake) for its video."""
    scores = pd.read_csv(paths.submission).set_index("filename")["label"]
    meta = read_json(paths.labels)
    pairs = sorted((v["original"], name) for name, v in meta.items() if v["label"] == "FAKE")[:count]
    predictor = demo_predictor(paths)
    fig, axes = plt.subplots(2, len(pairs), figsize=(1.45 * len(pairs), 3.3), squeeze=False)
    for column, (real, fake) in enumerate(pairs):
        for row, name in enumerate((real, fake)):
            ax = axes[row, column]
            faces = predictor.faces(str(paths.test_videos / name), per_track=3)
            if faces:
                ax.imshow(faces[0][2][len(faces[0][2]) // 2])
            kind = "real" if row == 0 else "SBI fake"
            ax.set_title(f"{kind}\nP(fake) {scores.get(name, float('nan')):.2f}", fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle("dfdetect demo: held-out faces, a tiny model trained minutes on a CPU", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=90, format="png")
    plt.close(fig)
    # a 128-colour palette: a third of the bytes, small enough to commit as the README picture
    image = Image.open(buffer).convert("RGB").quantize(colors=128, dither=Image.Dither.NONE)
    with atomic_path(out) as tmp:
        image.save(tmp, format="png", optimize=True)
    return out


def headline(paths: DemoPaths) -> dict[str, float]:
    """Log loss, AUC and accuracy of the held-out videos (``metrics.csv``'s row ``all``)."""
    row = pd.read_csv(paths.eval_dir / "metrics.csv", index_col="subset").loc["all"]
    return {k: float(row[k]) for k in ("n", "log_loss", "auc", "acc@0.5")}


def worst_videos(paths: DemoPaths, count: int = 2) -> list[str]:
    """A fake and a real held-out video to draw timelines of: the least certain of each class."""
    meta = read_json(paths.labels)
    scores = pd.read_csv(paths.submission)
    scores["fake"] = scores["filename"].map(lambda f: meta[f]["label"] == "FAKE")
    scores["loss"] = np.where(scores["fake"], -np.log(scores["label"] + 1e-6), -np.log(1 - scores["label"] + 1e-6))
    return [str(rows.sort_values("loss").iloc[-1]["filename"]) for _, rows in scores.groupby("fake")][:count]


def run_demo(work_dir: Path, quick: bool = False, steps: int | None = None, fresh: bool = False) -> dict[str, float]:
    start = time.perf_counter()
    fixed_threads()
    paths = DemoPaths(Path(work_dir).resolve())
    if fresh and paths.root.exists():
        shutil.rmtree(paths.root)
    steps = steps or 250  # quick too: 150 steps once gave a held-out log loss of 1.05 (docs/benchmarks.md)
    print(f"=== demo data ({'quick' if quick else 'full'}): real clips and self-blended fakes -> {paths.root}")
    seconds = {}
    detector = compose_detector(device="cpu", min_score=0.9)
    build_demo_dataset(paths.root, detector, quick=quick, fakes_per_real=1 if quick else 2, strength=2.0)
    seconds["demo data"] = time.perf_counter() - start
    if paths.train_dir.exists():  # a new training run: old checkpoints would be resumed or versioned otherwise
        shutil.rmtree(paths.train_dir)
    for title, args in pipeline_commands(paths, steps).items():
        seconds[title] = run_step(title, args)
    seconds["evaluate"] = run_step("evaluate", evaluate_command(paths, worst_videos(paths)))
    figure_start = time.perf_counter()
    figure = demo_figure(paths, paths.eval_dir / "demo.png")
    seconds["picture"] = time.perf_counter() - figure_start
    numbers = headline(paths)
    minutes = (time.perf_counter() - start) / 60
    print(summary(paths, numbers, figure, minutes))
    print("time per step: " + ", ".join(f"{title.split(' (')[0]} {s:.0f} s" for title, s in seconds.items()))
    return numbers


def summary(paths: DemoPaths, numbers: dict[str, float], figure: Path, minutes: float) -> str:
    verdict = "below" if numbers["log_loss"] < np.log(2) else "NOT below"
    return f"""
=== demo finished in {minutes:.1f} min
held-out videos: {int(numbers["n"])}   log loss {numbers["log_loss"]:.3f} ({verdict} 0.693, a coin flip)   \
AUC {numbers["auc"]:.3f}   accuracy {numbers["acc@0.5"]:.3f}
submission:      {paths.submission}
metrics, plots:  {paths.eval_dir}/ (metrics.csv, per_video.csv, roc.png, calibration.png, timeline_*.png)
picture:         {figure}
per-video JSON:  {paths.reports}/videos/
notebooks:       notebooks/01_explore_dataset.ipynb, notebooks/02_inspect_predictions.ipynb (read {paths.root})

The same on DFDC (README, "Full workflow for DFDC"):
  python preprocess.py data=dfdc data.root=/data/dfdc tracker=ntech
  python train.py experiment=ntech_seq data.root=/data/dfdc
  python -m src.models.export ckpt=outputs/train/<date>/<time>/checkpoints/last.ckpt out=models
  python predict.py videos=/data/dfdc/dfdc_train_part_49 ensemble=ntech_seq \\
      labels=/data/dfdc/dfdc_train_part_49/metadata.json
Fakes from your own real videos: python -m src.sbi source=real.mp4 target=fake.mp4"""
