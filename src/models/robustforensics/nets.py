"""The RobustForensics networks (spec robustforensics.md §5.1, §6.1; faithful list 8), built for Hydra.

timm provides EfficientNet (``tf_efficientnet_b*``: same tensors as lukemelas ``efficientnet_pytorch``), ResNet-34
(torchvision layout) and Xception (``legacy_xception``: the Cadene port, ``fc`` = Linear(2048, 2)); SlowFast-R50 is
written here (:mod:`src.models.robustforensics.slowfast`). Initial weights: ``pretrained=True`` takes timm's
ImageNet weights from the hub (``*.aa_in1k``, ``resnet34.tv_in1k``, ``legacy_xception.tf_in1k``: the sources of
the seed's inits), or ``init_path`` one of the seed's own ``pretrain/`` files (efficientnet-b*-*.pth,
resnet34-333f7ec4.pth, xception-b5690688.pth, sf50_k400.pth) or any seed checkpoint, checked against
``init_sha256`` when given.
"""

from __future__ import annotations

import os

from torch import nn

from src.models.backbones import create_backbone
from src.models.robustforensics.checkpoints import load_rf_checkpoint
from src.models.robustforensics.slowfast import slowfast_r50
from src.models.static_padding import freeze_same_padding


def _init(net: nn.Module, init_path: str | os.PathLike | None, init_sha256: str | None) -> nn.Module:
    if init_path is not None:
        load_rf_checkpoint(init_path, net, init=True, sha256=init_sha256)
    return net


def efficientnet(
    model_name: str,
    nominal_size: int,
    drop_rate: float,
    drop_path_rate: float = 0.2,
    pretrained: bool = False,
    init_path: str | None = None,
    init_sha256: str | None = None,
) -> nn.Module:
    """lukemelas-style EfficientNet: 2-way head behind ``Dropout(drop_rate)``, drop-connect ``0.2 × i / n_blocks``,
    BN momentum 0.01 / eps 1e-3, and "same" padding frozen for ``nominal_size`` (224/240/300 while fed 299).
    """
    net = create_backbone(
        model_name,
        pretrained=pretrained,
        num_classes=2,
        drop_rate=drop_rate,
        drop_path_rate=drop_path_rate,
        bn_momentum=0.01,
    )
    return _init(freeze_same_padding(net, nominal_size), init_path, init_sha256)


def timm_classifier(
    model_name: str, pretrained: bool = False, init_path: str | None = None, init_sha256: str | None = None
) -> nn.Module:
    """ResNet-34 / Xception with a new Linear(features, 2) and no dropout."""
    return _init(create_backbone(model_name, pretrained=pretrained, num_classes=2), init_path, init_sha256)


def slowfast(
    init_path: str | None = None,
    init_sha256: str | None = None,
    alpha: int = 4,
    beta: float = 0.125,
    dropout: float = 0.5,
) -> nn.Module:
    """SlowFast-R50; the seed's Kinetics-400 init is its ``sf50_k400.pth`` (``init_path``; no timm equivalent)."""
    return _init(slowfast_r50(num_classes=2, alpha=alpha, beta=beta, dropout=dropout), init_path, init_sha256)
