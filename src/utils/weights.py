"""Weight files, read one way: checksum, then tensors only (safetensors, or ``torch.load(weights_only=True)``).

Detectors, backbones, the seeds' released checkpoints and exports all go through :func:`read_weights`, so every weight
file is verified the same way and a bad one fails with one line naming it; nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import load_file

CHUNK = 1 << 20


class WeightsError(ValueError):
    """A weight file is unreadable, unverifiable or not what it should be; ``str()`` is one line naming the file."""


def sha256sum(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def read_weights(path: str | os.PathLike, sha256: str | None = None) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors or torch weights file (a plain state dict or ``{'state_dict': ...}``), checked
    against ``sha256`` when one is given. A missing file is a ``FileNotFoundError``, anything else a
    :class:`WeightsError`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: weights file not found")
    if sha256 is not None and (actual := sha256sum(path)) != sha256.lower():
        raise WeightsError(f"{path}: sha256 {actual} does not match the expected {sha256}")
    try:
        if path.suffix == ".safetensors":
            return load_file(path)
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated file, foreign pickle, bad header: one line naming the file
        raise WeightsError(f"{path}: cannot read weights ({type(err).__name__}: {first_line(err)})") from err
    state = obj.get("state_dict", obj) if isinstance(obj, Mapping) else None
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path}: not a state dict of tensors (got {type(obj).__name__})")
    return dict(state)


def first_line(err: BaseException) -> str:
    """The headline of an error whose text runs over many lines (torch.load's weights_only explanations)."""
    return next((line.strip() for line in str(err).splitlines() if line.strip()), type(err).__name__)
