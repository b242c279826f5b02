"""Shared pieces of the NTech training tests: a synthetic clip dataset and a step recorder callback."""

from __future__ import annotations

import json
from pathlib import Path

import pytorch_lightning as pl

from src.datamodules.synthetic import write_synthetic_dataset


def make_synthetic_work(tmp_path_factory) -> Path:
    """Work dir of a small synthetic dataset: 4 originals (1 val) with one aligned fake each, 50-frame clips."""
    work = tmp_path_factory.mktemp("synthetic")
    write_synthetic_dataset(work, num_originals=4, fakes_per_original=1, val_originals=1)
    return work


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
