"""What several test modules share: where the research data is, small generated inputs, reference files, the
training-test callbacks and the RobustForensics tube clips. Test modules import this module, never each other;
fixtures built on it live in conftest.py."""

from __future__ import annotations

import ast
import csv
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import pytorch_lightning as pl
from omegaconf import DictConfig

from src.faces.detectors.compose import compose_detector
from src.faces.pairs import Pairing
from src.preprocess.index import write_index
from src.utils.config import compose_config
from src.utils.paths import REPO_ROOT
from src.video.io import open_video, write_video

SHARED = Path(os.environ.get("DFDETECT_SHARED", REPO_ROOT.parent / "shared"))
REALVIDEOS = SHARED / "realvideos"
WEIGHTS = SHARED / "weights"
SPEC_REFERENCE = SHARED / "spec" / "reference"


def _manifest_rows() -> list[dict[str, str]]:
    path = REALVIDEOS / "manifest.csv"
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


MANIFEST = _manifest_rows()
REALVIDEO_IDS = [row["filename"] for row in MANIFEST] or ["<../shared/realvideos absent>"]


def require_realvideos() -> Path:
    if not MANIFEST:
        pytest.skip(f"real videos not found at {REALVIDEOS} (research data lives in ../shared, not in the repo)")
    return REALVIDEOS


def reference_rows(name: str) -> list[list[str]]:
    """The tab-separated rows of a reference dump in ../shared/spec/reference (blank and ``#`` lines skipped); the
    test is skipped where the file is absent."""
    path = SPEC_REFERENCE / name
    if not path.is_file():
        pytest.skip(f"reference dump {path} absent (spec reference data lives in ../shared/spec/reference)")
    return [line.split("\t") for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def reference_keys(name: str) -> list[tuple[str, list[int], str]]:
    """``(key, shape, dtype)`` of every entry of a reference state-dict listing (``<name>.keys.txt``)."""
    return [(key, list(ast.literal_eval(shape)), dtype) for key, shape, dtype in reference_rows(name)]


def synthetic_frames(n: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth, moving test frames (compress like natural video, unlike white noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    frames = np.empty((n, height, width, 3), np.uint8)
    phase = rng.uniform(0, 2 * np.pi, 3)
    for t in range(n):
        for c in range(3):
            wave = np.sin(xx / (7 + 3 * c) + t / 5 + phase[c]) + np.cos(yy / (9 + 2 * c) - t / 7)
            frames[t, ..., c] = np.clip(127 + 60 * wave, 0, 255).astype(np.uint8)
    return frames


def default_detector(**overrides):
    """The default detector exactly as Hydra composes ``detector=mtcnn`` (on the CPU)."""
    return compose_detector("mtcnn", **{"device": "cpu", **overrides})


def spec_sampler(num_samples: int, max_iter: int, batch: int, world: int, rank: int) -> list[int]:
    """The spec's algorithm written out with NumPy's global legacy generator, as the seed ran it."""
    state = np.random.get_state()
    try:
        np.random.seed(0)
        total = max_iter * batch
        all_size = total * world
        indices = np.arange(num_samples)
        np.random.shuffle(indices)
        indices = indices[:all_size]
        indices = np.tile(indices, (all_size - 1) // indices.shape[0] + 1)[:all_size]
        np.random.shuffle(indices)
        return indices[total * rank : total * (rank + 1)].tolist()
    finally:
        np.random.set_state(state)


# --- training tests: callbacks given to train.py as `+callbacks.<name>._target_=tests.helpers.<Class>` -------------


class StepRecorder(pl.Callback):
    """Appends ``{step, indices, loss}`` of every training batch to a JSON-lines file (works across processes)."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        record = {
            "rank": trainer.global_rank,
            "step": trainer.global_step,
            "indices": batch["index"].tolist(),
            "input_sum": float(batch["input"].double().sum()),
            "loss": float(outputs["loss"]),
        }
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")


class StopAfter(pl.Callback):
    """Ends a run after the validation at step ``step``, as if the job were killed right after its checkpoint."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.global_step >= self.step:
            trainer.should_stop = True


def read_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# --- RobustForensics tube clips ---------------------------------------------------------------------------------


# (video, label, part): two real videos and one deepfake of each, from distinct "parts" for split tests.
TUBE_SOURCES = [
    ("ffpp/original_sequences/youtube/c40/videos/183.mp4", 0, "p0"),
    ("ffpp/manipulated_sequences/Deepfakes/c40/videos/183_253.mp4", 1, "p0"),
    ("ffpp/original_sequences/youtube/c40/videos/253.mp4", 0, "p1"),
    ("ffpp/manipulated_sequences/Deepfakes/c40/videos/253_183.mp4", 1, "p1"),
]


def write_tube_clips(out_dir: Path, num_frames: int = 140, size: int = 64) -> pd.DataFrame:
    """Write one tube clip per source video under ``out_dir`` and its ``index.parquet``; return the index."""
    realvideos = require_realvideos()
    rows = []
    for video, label, part in TUBE_SOURCES:
        reader = open_video(realvideos / video, "pyav")
        frames = reader.read(range(min(num_frames, len(reader))))
        height, width = frames.shape[1:3]
        side = min(height, width) // 2
        top, left = (height - side) // 2, (width - side) // 2
        tube = np.stack(
            [
                cv2.resize(f[top : top + side, left : left + side], (size, size), interpolation=cv2.INTER_AREA)
                for f in frames
            ]
        )
        clip_path = Path("clips") / Path(video).with_suffix("") / "0.mp4"
        write_video(out_dir / clip_path, tube, fps=reader.info.fps, keyint=10)
        rows.append(
            {
                "clip_id": f"{video}/0",
                "video_id": video,
                "dataset": "ffpp",
                "part": part,
                "label": label,
                "track_id": 0,
                "clip_path": str(clip_path),
                "num_frames": len(tube),
                "height": size,
                "width": size,
                "fps": reader.info.fps,
                "start_frame": 0,
                "split": "train" if part == "p0" else "val",
                "pair_clip_id": "",
                "pair_iou": float("nan"),
                "pair_aligned": False,
            }
        )
    index = pd.DataFrame(rows)
    write_index(index, out_dir / "index.parquet")
    return index


# The small synthetic dataset of the stage tests (fixture ``dataset`` in conftest).
NUM_FRAMES, HEIGHT, WIDTH, STEP = 40, 96, 128, 2


def face_boxes(frames: np.ndarray, jitter: float = 0.0) -> np.ndarray:
    x = 30 + frames * 0.5 + jitter * np.sin(frames)
    return np.stack([x, 20 + 0 * x, x + 40, 20 + 0 * x + 48], axis=1)


def overrides(work: Path, out: Path, *extra: str) -> list[str]:
    return [
        "experiment=smoke",
        f"data.work_dir={work}",
        f"paths.root_dir={REPO_ROOT}",
        f"output_dir={out}",
        "datamodule.num_workers=0",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        "trainer.log_every_n_steps=1",
        "+callbacks.recorder._target_=tests.helpers.StepRecorder",
        f"+callbacks.recorder.path={out}/steps.jsonl",
        *extra,
    ]


def compose_train(*args: str) -> DictConfig:
    return compose_config("train", args)


def seed_pairing(tracker):
    """The pairing each seed's recipe gives the extract stage (conf/recipe/*.yaml pair_geometry) for ``tracker``."""
    return Pairing("own" if tracker.name == "tubes" else "shared")
