"""Training callbacks: NTech's head-only warm-up, and random-state checkpointing for exact resumption."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch


class HeadOnlyWarmup(pl.Callback):
    """Train only ``net.get_classifier()``, network in eval mode, for the first ``steps`` optimizer steps.

    NTech (spec ntechlab_detail §3): 100 iterations with BN statistics frozen and dropout/drop-connect off, then a
    fresh SGD over every parameter. One optimizer covers both phases here: during the warm-up every gradient but
    the classifier's is dropped (SGD skips a parameter without gradient: no update, no momentum, no weight
    decay), which keeps DDP's gradient buckets fixed; at the switch the optimizer's momentum buffers are cleared.
    """

    def __init__(self, steps: int = 100) -> None:
        self.steps = steps
        self._switched = False

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int):
        if trainer.global_step < self.steps:
            pl_module.eval()
        elif trainer.global_step == self.steps and not self._switched:
            pl_module.train()
            for optimizer in trainer.optimizers:
                optimizer.state.clear()
            self._switched = True

    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer) -> None:
        if trainer.global_step >= self.steps:
            return
        head = {id(p) for p in pl_module.net.get_classifier().parameters()}
        for group in optimizer.param_groups:
            for param in group["params"]:
                if id(param) not in head:
                    param.grad = None


class RestoreRandomState(pl.Callback):
    """Save the Python, NumPy and torch (CPU, CUDA) random states in checkpoints and put them back on resume.

    Dropout and drop-connect draw from torch's global generator, so without this a resumed run would train on
    the right batches with different masks. The states are restored when training starts, after the data
    loaders are built (building an iterator draws a seed from torch).
    """

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        # Plain lists and tensors only: checkpoints are read with torch.load(weights_only=True).
        version, python_state, gauss = random.getstate()
        _, keys, position, has_gauss, cached = np.random.get_state()
        return {
            "python": [version, list(python_state), gauss],
            "numpy": [torch.from_numpy(keys.astype(np.int64)), int(position), int(has_gauss), float(cached)],
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = state_dict

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._pending is None:
            return
        state, self._pending = self._pending, None
        version, python_state, gauss = state["python"]
        random.setstate((version, tuple(python_state), gauss))
        keys, position, has_gauss, cached = state["numpy"]
        np.random.set_state(("MT19937", keys.numpy().astype(np.uint32), position, has_gauss, cached))
        torch.set_rng_state(state["torch"])
        if state["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])
