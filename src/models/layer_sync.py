"""Synchronised BatchNorm that keeps timm's fused norm + activation layers intact.

Lightning's ``sync_batchnorm=True`` converts with ``torch.nn.SyncBatchNorm.convert_sync_batchnorm``, which turns
timm's ``BatchNormAct2d`` (BatchNorm, then the block's activation, in one module) into a plain ``SyncBatchNorm``:
the activation survives only as an unused child, so every EfficientNet block loses its SiLU. Measured on an H100
(B7 at 416, ``trainer=ddp``, ``16-mixed``): the training loss was NaN from the first step; with this plugin, or with
``sync_batchnorm=false``, it was finite. ``TimmSyncBatchNorm`` converts with timm's own rule (``SyncBatchNormAct``
keeps ``act`` and ``drop``) and reverts to ``BatchNormAct2d``, so the module left after ``fit`` is the trained one.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from pytorch_lightning.plugins.layer_sync import LayerSync, TorchSyncBatchNorm, _BatchNormXd
from timm.layers import BatchNormAct2d, SyncBatchNormAct
from timm.layers import convert_sync_batchnorm as timm_convert_sync_batchnorm
from torch import nn


class TimmSyncBatchNorm(TorchSyncBatchNorm):
    """``Trainer(plugins=[TimmSyncBatchNorm()])``: sync every BatchNorm, keep fused activations (see build_trainer)."""

    def apply(self, model: nn.Module) -> nn.Module:
        return timm_convert_sync_batchnorm(model)

    def revert(self, model: nn.Module) -> nn.Module:
        return revert_sync_batchnorm(model)


def revert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """The inverse of timm's conversion: ``SyncBatchNormAct`` → ``BatchNormAct2d``, ``SyncBatchNorm`` → BatchNorm."""
    converted = module
    if isinstance(module, nn.SyncBatchNorm):
        args = (module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats)
        if isinstance(module, SyncBatchNormAct):
            converted = BatchNormAct2d(*args, apply_act=False)
            converted.act, converted.drop = module.act, module.drop
        else:
            converted = _BatchNormXd(*args)
        if module.affine:
            with torch.no_grad():
                converted.weight = module.weight
                converted.bias = module.bias
        converted.running_mean = module.running_mean
        converted.running_var = module.running_var
        converted.num_batches_tracked = module.num_batches_tracked
    for name, child in module.named_children():
        if not (isinstance(module, SyncBatchNormAct) and name in ("act", "drop")):
            converted.add_module(name, revert_sync_batchnorm(child))
    return converted


def build_trainer(*, sync_batchnorm: bool = False, plugins: list | None = None, **kwargs) -> pl.Trainer:
    """``pytorch_lightning.Trainer`` whose ``sync_batchnorm=True`` uses :class:`TimmSyncBatchNorm` (the target of
    ``conf/trainer/default.yaml``; every other argument is the Trainer's own)."""
    plugins = list(plugins or [])
    if sync_batchnorm and not any(isinstance(p, LayerSync) for p in plugins):
        plugins.append(TimmSyncBatchNorm())
    return pl.Trainer(plugins=plugins or None, **kwargs)
