"""NTech's training callback: the head-only warm-up before full training (spec ntechlab_detail §3)."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl


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
