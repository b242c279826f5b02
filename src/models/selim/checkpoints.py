"""Load Selim Seferbekov's released checkpoints (spec selim.md, "Released weights") into :class:`SelimClassifier`.

A release file is a ``torch.save`` dict whose ``state_dict`` (or the dict itself) holds the tensors with
DataParallel's ``module.`` prefix; only tensors are read (``weights_only=True``). The load is strict: his repo's
issue #25 (every prediction 0.3-0.45) came from a lenient load into a renamed timm model.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from src.models.backbones import read_weights

PREFIX = "module."


def load_selim_checkpoint(path: str | os.PathLike, model: nn.Module, sha256: str | None = None) -> None:
    """Load ``path`` into ``model``; a missing, extra or mis-shaped key is one error line naming it and the file."""
    state = {k.removeprefix(PREFIX): v for k, v in read_weights(path, sha256).items()}
    load_strict(state, model, str(path))


def load_strict(state: dict[str, torch.Tensor], model: nn.Module, source: str) -> None:
    own = model.state_dict()
    missing, extra = sorted(own.keys() - state.keys()), sorted(state.keys() - own.keys())
    if missing:
        raise ValueError(f"{source}: key {missing[0]} of the model is missing in the file ({len(missing)} missing)")
    if extra:
        raise ValueError(f"{source}: key {extra[0]} in the file is not in the model ({len(extra)} extra)")
    for key, value in state.items():
        if value.shape != own[key].shape:
            raise ValueError(f"{source}: key {key} has shape {list(value.shape)}, the model {list(own[key].shape)}")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, strict=True)
