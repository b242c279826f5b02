"""Checkpoints in the released containers, with random tensors, for the conversion tests (nothing downloaded).

Float tensors are rounded to float16 values, so the exported fp16 copy holds exactly the original numbers and the
converted model must give the very same logits as the network loaded from the original file.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from tests.helpers import SPEC_REFERENCE


def reference_layout(name: str) -> list[tuple[str, list[int], str]]:
    """``(key, shape, dtype)`` rows of a reference key list (``../shared/spec/reference/<name>.keys.txt``)."""
    path = SPEC_REFERENCE / f"{name}.keys.txt"
    if not path.is_file():
        pytest.skip(f"reference key list {path} absent (spec reference data lives in ../shared)")
    rows = [line.split("\t") for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return [(key, ast.literal_eval(shape), dtype) for key, shape, dtype in rows]


def random_state(layout, seed: int = 0, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """Random tensors of the given layout: positive BN variances, small weights, integer counters."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape, kind in layout:
        if kind == "int64" or key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7, dtype=torch.int64).reshape(shape)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=gen) + 0.5
        else:
            state[key] = torch.randn(shape, generator=gen) * 0.05
    return {k: v.half().to(dtype) if v.is_floating_point() else v for k, v in state.items()}


def save_rf_checkpoint(path: Path, state: dict[str, torch.Tensor], arch: str = "efficientnet-b0") -> Path:
    """RobustForensics' training checkpoint: DDP keys (already in ``state``) inside the seed's dict."""
    optimizer = {"state": {}, "param_groups": [{"lr": 0.03, "momentum": 0.9, "params": [0, 1]}]}
    torch.save({"step": 58000, "arch": arch, "state_dict": state, "best_loss": 0.3, "optimizer": optimizer}, path)
    return path


def layout_of(state: dict[str, torch.Tensor], prefix: str = "") -> list[tuple[str, list[int], str]]:
    return [(prefix + k, list(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in state.items()]
