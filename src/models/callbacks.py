"""Training callbacks every recipe uses: random-state checkpointing for exact resumption."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch


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
