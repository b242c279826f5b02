"""Load NTechLab's released weights into our networks (spec reference/README.md, "Checkpoint containers").

NTech's snapshots are plain efficientnet_pytorch state dicts (no ``module.`` prefix); the released ``*.fp16.pth``
files hold **every** entry as float16, ``num_batches_tracked`` included, and NTech's predict.py casts them back to
float32 before a strict load. Names map 1:1 onto timm's (``efficientnet_keys``); the sequence model's
``_blocks.N._expand_conv.conv.weight`` ([out, in, 3, 1, 1]) lands on our ``TemporalConv`` at ``conv_pw.conv``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from src.models.efficientnet_keys import lukemelas_to_timm, stage_depths
from src.models.ntech.sequence import ClipClassifier
from src.utils.weights import read_weights


def ntech_to_ours(ntech_keys: Iterable[str], model: ClipClassifier) -> dict[str, str]:
    """NTech key → key of ``model.state_dict()``."""
    names = lukemelas_to_timm(ntech_keys, stage_depths(model.backbone))
    return {k: f"backbone.{v}" for k, v in names.items()}


def load_ntech_checkpoint(path: str | os.PathLike, model: ClipClassifier, sha256: str | None = None) -> None:
    """Load an NTech snapshot or released fp16 file into ``model`` (strict: every key, every shape)."""
    state = read_weights(path, sha256)
    try:
        names = ntech_to_ours(state, model)
    except KeyError as err:
        raise ValueError(f"{path}: not an NTech EfficientNet checkpoint ({err.args[0]})") from None
    own = model.state_dict()
    mapped = {}
    for key, value in state.items():
        target = own.get(names[key])
        if target is None or target.shape != value.shape:
            shape = None if target is None else list(target.shape)
            raise ValueError(f"{path}: {key} {list(value.shape)} does not fit {names[key]} {shape}")
        mapped[names[key]] = value.to(target.dtype)
    missing = sorted(own.keys() - mapped.keys())
    if missing:
        raise ValueError(f"{path}: {len(missing)} weights of the model are not in the file, e.g. {missing[:3]}")
    model.load_state_dict(mapped, strict=True)
