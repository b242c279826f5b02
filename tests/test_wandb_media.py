"""wandb (offline): a validation run logs the per-video table, the sample grid, ROC and calibration images into the
local run folder; an export logs the model as an artifact."""

from __future__ import annotations

import json
import time
from functools import partial

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import WandbLogger
from torch import nn
from torch.utils.data import DataLoader

from src.models.export import write_export
from src.models.module import DeepfakeClassifier
from src.models.wandb_media import log_model_artifact


class MeanLogit(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C, H, W) → (B, T)
        return self.conv(x.flatten(0, 1)).mean(dim=(1, 2, 3)).view(x.shape[:2])


def batches(videos: int = 6, per_video: int = 2):
    torch.manual_seed(0)
    rows = [
        {
            "input": torch.randn(2, 3, 16, 16),
            "target": torch.full((2,), float(v % 2)),
            "label": v % 2,
            "video": v,
            "index": v * per_video + k,
        }
        for v in range(videos)
        for k in range(per_video)
    ]
    return DataLoader(rows, batch_size=4)


def media(run_dir, kind: str) -> list[str]:
    return sorted(p.relative_to(run_dir).as_posix() for p in run_dir.glob(f"files/media/{kind}/**/*") if p.is_file())


@pytest.mark.slow  # wandb's service start-up: ~10 s on an idle 2-core machine
def test_validation_logs_table_grid_roc_and_calibration(tmp_path):
    module = DeepfakeClassifier(MeanLogit(), nn.BCEWithLogitsLoss(), partial(torch.optim.SGD, lr=0.1))
    logger = WandbLogger(project="dfdetect-test", save_dir=str(tmp_path), offline=True)
    trainer = pl.Trainer(logger=logger, accelerator="cpu", enable_progress_bar=False, enable_model_summary=False)
    trainer.validate(module, dataloaders=batches())
    logger.experiment.finish()
    (run_dir,) = (tmp_path / "wandb").glob("offline-run-*")
    images, tables = media(run_dir, "images"), media(run_dir, "table")
    for key in ("val/samples", "val/roc", "val/calibration"):
        assert any(path.startswith(f"files/media/images/{key}_") and path.endswith(".png") for path in images), key
    (table,) = [p for p in tables if p.startswith("files/media/table/val/videos_")]
    logged = json.loads((run_dir / table).read_text())
    assert logged["columns"] == ["video", "label", "p_fake", "correct"]
    assert [row[:2] for row in logged["data"]] == [[v, "fake" if v % 2 else "real"] for v in range(6)]


@pytest.mark.slow
def test_export_logs_the_model_as_an_artifact(tmp_path):
    spec = {"net": {"_target_": "torch.nn.Linear", "in_features": 2, "out_features": 1}, "output": "sigmoid"}
    exported = write_export(nn.Linear(2, 1).state_dict(), spec, tmp_path / "models", "tiny_linear")
    log_model_artifact(exported, project="dfdetect-test", save_dir=tmp_path)
    (log,) = (tmp_path / "wandb").glob("offline-run-*/run-*.wandb")
    deadline = time.time() + 60  # wandb's separate writer process may flush the offline log after finish() returns
    while b"tiny_linear.safetensors" not in (data := log.read_bytes()) and time.time() < deadline:
        time.sleep(0.5)
    assert b"tiny_linear" in data and b"tiny_linear.safetensors" in data
