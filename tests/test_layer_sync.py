"""Synchronised BatchNorm on timm networks: Lightning's stock conversion drops the activations fused into timm's
BatchNormAct2d (on an H100, B7 at 416 with ``trainer=ddp`` then trained to NaN from the first step); ours keeps them."""

from __future__ import annotations

import copy

import pytest
import timm
import torch
from pytorch_lightning.plugins.layer_sync import TorchSyncBatchNorm
from timm.layers import BatchNormAct2d, SyncBatchNormAct
from torch import nn

from src.models.layer_sync import TimmSyncBatchNorm, build_trainer


@pytest.fixture(scope="module")
def net_and_input() -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    net = timm.create_model("test_efficientnet", pretrained=False, num_classes=1)
    net.train()
    for _ in range(3):  # non-trivial running statistics
        net(torch.randn(4, 3, 64, 64))
    return net.eval(), torch.randn(2, 3, 64, 64)


def _count(net: nn.Module, kind: type) -> int:
    return sum(isinstance(m, kind) for m in net.modules())


def test_lightnings_stock_conversion_changes_a_timm_network(net_and_input) -> None:
    net, x = net_and_input
    converted = TorchSyncBatchNorm().apply(copy.deepcopy(net)).eval()
    assert _count(converted, SyncBatchNormAct) == 0  # the fused activations became dead children
    assert (converted(x) - net(x)).abs().max() > 1e-2


def test_timm_sync_batchnorm_converts_every_norm_and_keeps_the_function(net_and_input) -> None:
    net, x = net_and_input
    norms = _count(net, nn.modules.batchnorm._BatchNorm)
    fused = _count(net, BatchNormAct2d)
    assert fused > 0
    plugin = TimmSyncBatchNorm()
    converted = plugin.apply(copy.deepcopy(net)).eval()
    assert _count(converted, nn.SyncBatchNorm) == norms and _count(converted, SyncBatchNormAct) == fused
    torch.testing.assert_close(converted(x), net(x))
    converted.train()  # without a process group SyncBatchNorm normalises with the local batch, as BatchNorm does
    torch.testing.assert_close(converted(x), copy.deepcopy(net).train()(x))
    reverted = plugin.revert(converted).eval()
    assert _count(reverted, nn.SyncBatchNorm) == 0 and _count(reverted, BatchNormAct2d) == fused
    assert set(reverted.state_dict()) == set(net.state_dict())
    torch.testing.assert_close(reverted(x), converted.eval()(x))


@pytest.mark.parametrize("sync", [True, False])
def test_build_trainer_installs_the_plugin_only_for_sync_batchnorm(sync: bool, tmp_path) -> None:
    trainer = build_trainer(
        accelerator="cpu", strategy="ddp", devices=1, sync_batchnorm=sync, logger=False, default_root_dir=tmp_path
    )
    layer_sync = trainer.strategy._layer_sync
    assert isinstance(layer_sync, TimmSyncBatchNorm) if sync else layer_sync is None
