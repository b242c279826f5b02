"""Load RobustForensics checkpoints: the 11 released ``*.pth.tar`` files and the seed's ImageNet/Kinetics inits.

A seed checkpoint is ``{'step', 'arch', 'state_dict', 'best_loss', 'optimizer'}`` saved by ``torch.save`` from a
DDP-wrapped model, so every key starts with ``module.`` (Xception: ``module.model.``); inits and the inference
copies are plain state dicts without the prefix. Only the tensors are used, read with ``weights_only=True``
(:func:`~src.utils.weights.read_weights`, optionally checked against a sha256).
EfficientNet checkpoints carry lukemelas ``efficientnet_pytorch`` names and are renamed to timm's on the fly.
"""

from __future__ import annotations

import logging
import os

import torch
from torch import nn

from src.models.efficientnet_keys import lukemelas_to_timm, stage_depths
from src.utils.weights import read_weights

log = logging.getLogger(__name__)

# Longest first: Xception's `module.model.` must not be cut down to `model.` by the `module.` rule.
WRAPPER_PREFIXES = ("module.model.", "module.")


def strip_wrapper_prefix(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keys without the DDP (``module.``) or FaceForensics TransferModel (``module.model.``) prefix."""
    for prefix in WRAPPER_PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            return {k[len(prefix) :]: v for k, v in state.items()}
    return dict(state)


def read_state_dict(path: str | os.PathLike, sha256: str | None = None) -> dict[str, torch.Tensor]:
    """The state dict inside a seed checkpoint or weights file, with DDP/TransferModel prefixes removed."""
    return strip_wrapper_prefix(read_weights(path, sha256))


def load_rf_checkpoint(
    path: str | os.PathLike, model: nn.Module, init: bool = False, sha256: str | None = None
) -> list[str]:
    """Load the seed file ``path`` into ``model`` (see :func:`load_rf_state_dict`)."""
    return load_rf_state_dict(read_state_dict(path, sha256), model, init, source=str(path))


def load_rf_state_dict(
    state: dict[str, torch.Tensor], model: nn.Module, init: bool = False, source: str = "state dict"
) -> list[str]:
    """Load a prefix-free seed state dict into ``model``; every key must match. Return the keys left at init.

    lukemelas EfficientNet names are renamed to timm's. ``init=True`` loads a pretraining checkpoint the way the seed
    did (ImageNet/Kinetics weights into a 2-class net): tensors of another shape (the 1000/400-way classifier) stay
    at init with a warning, and Cadene's 2-D Xception pointwise weights are viewed as the 1×1 convolutions they are.
    """
    if any(k.startswith("_blocks.") for k in state):
        names = lukemelas_to_timm(state, stage_depths(model))
        state = {names[k]: v for k, v in state.items()}
    else:
        state = dict(state)
    own = model.state_dict()
    missing, unexpected = sorted(own.keys() - state.keys()), sorted(state.keys() - own.keys())
    if missing or unexpected:
        raise ValueError(
            f"{source}: does not fit {type(model).__name__}: {len(missing)} missing keys {missing[:3]}, "
            f"{len(unexpected)} unexpected keys {unexpected[:3]}"
        )
    kept = []
    for key, value in state.items():
        if value.shape == own[key].shape:
            continue
        if init and (*value.shape, 1, 1) == tuple(own[key].shape):
            state[key] = value.view(own[key].shape)
        elif init:
            log.warning("%s: %s has shape %s, the model %s: left at init", source, key, list(value.shape),
                        list(own[key].shape))  # fmt: skip
            state[key] = own[key]
            kept.append(key)
        else:
            raise ValueError(f"{source}: {key} has shape {list(value.shape)}, the model {list(own[key].shape)}")
    model.load_state_dict(state)
    return kept
