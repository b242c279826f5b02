"""Selim Seferbekov's 1st-place network (spec selim.md, "Network"): a timm EfficientNet encoder, global average pool,
dropout and ``fc = Linear(features, 1)``: one fake logit per image.

The encoder keeps its own ImageNet ``classifier`` (unused by ``forward``) because the released checkpoints hold its
weights (``encoder.classifier.*``) and load strictly. The released models use ``tf_efficientnet_b7``
(``tf_efficientnet_b7_ns`` in 2020's timm: same architecture, dynamic TF "same" padding), so no padding is frozen.
"""

from __future__ import annotations

import torch
from torch import nn

from src.models.backbones import create_backbone


class SelimClassifier(nn.Module):
    def __init__(self, model_name: str = "tf_efficientnet_b7", dropout: float = 0.0, drop_path_rate: float = 0.2):
        super().__init__()
        self.encoder = create_backbone(model_name, drop_path_rate=drop_path_rate)
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.encoder.num_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.avg_pool(self.encoder.forward_features(x)).flatten(1)
        return self.fc(self.dropout(features))
