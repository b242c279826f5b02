"""``DeepfakeClassifier``: the LightningModule every recipe trains, with its parts given by the config.

- ``net``: batch ``input`` → logits: NTech's clip models give (B, T) per-frame logits, a 2-way image or video
  classifier (RobustForensics) gives (B, 2).
- ``criterion(logits, batch[target_key])``: NTech ``BCEWithLogitsLoss`` on the soft per-frame targets
  (``target_key: target``); RobustForensics' class-weighted cross-entropy on ``label``.
- ``output``: how logits become P(fake): ``sigmoid`` or ``softmax`` (class 1); a sample's probability is the mean
  over its frames, a video's the mean over its samples (:class:`~src.models.metrics.VideoMetrics`). With the wandb
  logger, each validation also logs a per-video table, sample crops, ROC and calibration images
  (:mod:`src.models.wandb_media`).
- ``optimizer`` / ``scheduler``: partials taking ``params`` / ``optimizer`` (stepped every ``scheduler_interval``).
- ``spec``: plain data stored in the checkpoint's hyper-parameters: what ``export`` needs to rebuild the net and
  its input pipeline without the training code's state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import WandbLogger
from torch import nn

from src.models.metrics import VideoMetrics
from src.models.wandb_media import GRID, log_validation

PROB_FAKE: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sigmoid": torch.sigmoid,
    "softmax": lambda logits: logits.softmax(-1)[..., 1],
}


def sample_prob_fake(logits: torch.Tensor, output: str) -> torch.Tensor:
    """P(fake) per sample (B,): the mean over the sample's frames of the per-frame probabilities."""
    prob = PROB_FAKE[output](logits.float())
    return prob.reshape(len(prob), -1).mean(1)


def to_channels_last(module: nn.Module) -> nn.Module:
    """Channels-last 4-D weights (the 5-D temporal convs keep theirs); convs then run NHWC on tensor cores."""
    for param in module.parameters():
        if param.dim() == 4:
            param.data = param.data.contiguous(memory_format=torch.channels_last)
    return module


class DeepfakeClassifier(pl.LightningModule):
    def __init__(
        self,
        net: nn.Module,
        criterion: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None = None,
        scheduler_interval: str = "step",
        target_key: str = "target",
        output: str = "sigmoid",
        channels_last: bool = False,
        spec: dict | None = None,
    ) -> None:
        super().__init__()
        if output not in PROB_FAKE:
            raise ValueError(f"output must be one of {sorted(PROB_FAKE)}, got {output!r}")
        self.net = to_channels_last(net) if channels_last else net
        self.criterion = criterion
        self.make_optimizer, self.make_scheduler = optimizer, scheduler
        self.scheduler_interval = scheduler_interval
        self.target_key, self.output = target_key, output
        self.val_metrics = VideoMetrics()
        self.val_samples: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None  # crops for the wandb grid
        self.save_hyperparameters({"spec": spec or {}, "target_key": target_key, "output": output})

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.net(inputs)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        logits = self(batch["input"])
        loss = self.criterion(logits, batch[self.target_key])
        self.log("train/loss", loss, prog_bar=True, batch_size=len(logits))
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        logits = self(batch["input"])
        loss = self.criterion(logits, batch[self.target_key])
        self.log("val/loss", loss, sync_dist=True, batch_size=len(logits))
        prob = sample_prob_fake(logits, self.output)
        self.val_metrics.update(prob, batch["label"], batch["video"], batch["index"])
        if batch_idx == 0:
            self.val_samples = tuple(t[:GRID].detach().cpu() for t in (batch["input"], prob, batch["label"]))

    def on_validation_epoch_end(self) -> None:
        if self.val_metrics.update_count:
            # compute() already gathers every rank's samples; sync_dist only keeps Lightning's bookkeeping uniform.
            self.log_dict({f"val/{k}": v for k, v in self.val_metrics.compute().items()}, sync_dist=True)
            if (
                isinstance(self.logger, WandbLogger)
                and self.trainer.is_global_zero
                and not self.trainer.sanity_checking
            ):
                videos, scores, labels = (t.cpu().numpy() for t in self.val_metrics.per_video())
                log_validation(self.logger.experiment, videos, scores, labels, self.val_samples, self.global_step)
        self.val_metrics.reset()
        self.val_samples = None

    def configure_optimizers(self) -> Any:
        optimizer = self.make_optimizer(params=self.parameters())
        if self.make_scheduler is None:
            return optimizer
        scheduler = self.make_scheduler(optimizer=optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": self.scheduler_interval}}
