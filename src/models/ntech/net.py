"""NTechLab's networks (spec ntechlab_detail §2): EfficientNet-B7 Noisy-Student, one logit per frame, as a
sequence model (temporal convs in 51 blocks) or a frame model, built from timm for Hydra.

Backbone settings that differ from timm's defaults are explicit: dropout 0.5 before the classifier, drop-connect
0.2 (scaled by block index, as efficientnet_pytorch does), BN momentum 0.01 (TF's 0.99; eps 1e-3 is already timm's
for ``tf_`` models), and a fresh ``nn.Linear(2560, 1)`` with PyTorch's default init.

``nominal_size`` freezes the TF "same" padding for that image size in every conv, as efficientnet_pytorch 0.6.3
does (600 for B7). It only changes anything where the real input's feature maps have another parity than the
nominal ones: at 380×380 three stride-2 convs pad differently and the final map is 11×11 instead of 12×12 (the
seed's ``_380v2`` model); at 224×192 and 416×416 it is identical to timm's dynamic padding.
"""

from __future__ import annotations

import os

from torch import nn

from src.models.backbones import create_backbone
from src.models.ntech.sequence import ClipClassifier, add_temporal_convs
from src.models.static_padding import freeze_same_padding


def ntech_efficientnet(
    model_name: str = "tf_efficientnet_b7",
    seq_length: int | None = 7,
    nominal_size: int | None = None,
    drop_rate: float = 0.5,
    drop_path_rate: float = 0.2,
    bn_momentum: float = 0.01,
    pretrained: bool = False,
    pretrained_file: str | os.PathLike | None = None,
    pretrained_sha256: str | None = None,
    grad_checkpointing: bool = False,
) -> ClipClassifier:
    """NTech's sequence model (``seq_length`` frames per clip) or frame model (``seq_length=None``).

    ``grad_checkpointing`` recomputes block activations in the backward pass (timm): about a third more compute
    for a fraction of the activation memory (batch 2 × 7 frames at 416 on a 32 GB V100).
    """
    backbone = create_backbone(
        model_name,
        pretrained=pretrained,
        pretrained_file=pretrained_file,
        pretrained_sha256=pretrained_sha256,
        num_classes=1,
        drop_rate=drop_rate,
        drop_path_rate=drop_path_rate,
        bn_momentum=bn_momentum,
    )
    classifier = backbone.get_classifier()
    if isinstance(classifier, nn.Linear):
        classifier.reset_parameters()  # efficientnet_pytorch's new _fc; timm's init draws U(-1, 1) for one output
    if nominal_size is not None:
        freeze_same_padding(backbone, nominal_size)
    if seq_length is not None:
        add_temporal_convs(backbone, seq_length)
    if grad_checkpointing:
        backbone.set_grad_checkpointing(True)
    return ClipClassifier(backbone)
