"""timm backbone factory: random init, timm hub weights, or a local weights file checked by sha256.

Real users take ImageNet weights from the timm hub (``pretrained=True``: ``tf_efficientnet_b7.ns_jft_in1k`` is the
Noisy-Student B7 that NTechLab converted from TF by hand) or from a local file (``pretrained_file``: offline
machines, NTech's own ``noisy_student_efficientnet-b7.pth``). A local file may hold timm names or lukemelas
``efficientnet_pytorch`` names (renamed on the fly); a classifier of another shape than the model's (1000 ImageNet
classes vs our 1 logit) is left at its fresh init, as NTech did. Files are read by
:func:`src.utils.weights.read_weights` (safetensors or ``torch.load(weights_only=True)``, sha256 checked).
"""

from __future__ import annotations

import logging
import os

import timm
from torch import nn

from src.models.efficientnet_keys import lukemelas_to_timm, stage_depths
from src.utils.weights import read_weights

log = logging.getLogger(__name__)


def create_backbone(
    model_name: str,
    pretrained: bool = False,
    pretrained_file: str | os.PathLike | None = None,
    pretrained_sha256: str | None = None,
    **kwargs,
) -> nn.Module:
    """``timm.create_model(model_name, **kwargs)`` with weights from the hub (``pretrained``) or ``pretrained_file``."""
    if pretrained and pretrained_file is not None:
        raise ValueError(f"{model_name}: give pretrained=true (timm hub) or pretrained_file, not both")
    model = timm.create_model(model_name, pretrained=pretrained, **kwargs)
    if pretrained_file is not None:
        load_pretrained_file(model, pretrained_file, pretrained_sha256)
    return model


def load_pretrained_file(model: nn.Module, path: str | os.PathLike, sha256: str | None = None) -> None:
    """Load ImageNet weights from ``path`` into a timm model; only the classifier may stay at its init."""
    state = read_weights(path, sha256)
    if any(k.startswith("_blocks.") for k in state):
        names = lukemelas_to_timm(state, stage_depths(model))
        state = {names[k]: v for k, v in state.items()}
    own = model.state_dict()
    classifier = {f"{model.pretrained_cfg['classifier']}.{p}" for p in ("weight", "bias")}
    resized = {k for k in classifier if k in state and k in own and state[k].shape != own[k].shape}
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items() if k not in resized}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if set(missing) - resized or unexpected:
        raise ValueError(
            f"{path}: does not fit {model.pretrained_cfg.get('architecture', type(model).__name__)}: "
            f"missing {sorted(set(missing) - resized)[:3]}, unexpected {unexpected[:3]}"
        )
    if resized:
        log.info("%s: classifier %s left at its init (shape differs)", path, sorted(resized))
