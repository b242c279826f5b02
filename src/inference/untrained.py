"""Export randomly initialised networks of a training model config, exactly as ``python -m src.models.export`` would
export a trained one: what speed benchmarks and pipeline tests score videos with (speed does not depend on weights).

python -m src.inference.untrained out=models/untrained model=tiny name=tiny_seq
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

REPO_ROOT = Path(__file__).resolve().parents[2]


def export_untrained(out_dir: str | Path, name: str, overrides: Sequence[str] = (), seed: int = 0) -> Path:
    """``<out_dir>/<name>.yaml`` (+ ``.safetensors``) of ``model=...`` from ``overrides``, with random weights."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from src.models.export import export_checkpoint
    from train import model_spec

    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=[*overrides, "model.net.pretrained=false"])
    OmegaConf.resolve(cfg.model)  # the spec is a copy of cfg.model: its interpolations must not need the root
    torch.manual_seed(seed)
    net = instantiate(cfg.model.net)
    checkpoint = {
        "hyper_parameters": {"spec": model_spec(cfg.model)},
        "state_dict": {f"net.{k}": v for k, v in net.state_dict().items()},
        "global_step": 0,
    }
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / f"{name}.ckpt"
        torch.save(checkpoint, ckpt)
        return export_checkpoint(ckpt, out_dir, name)


if __name__ == "__main__":
    args = dict(arg.split("=", 1) for arg in sys.argv[1:] if "=" in arg)
    out, name = args.pop("out", "models/untrained"), args.pop("name", None)
    if name is None:
        raise SystemExit("usage: python -m src.inference.untrained out=DIR name=NAME model=tiny [model.x=y ...]")
    print(export_untrained(out, name, [f"{k}={v}" for k, v in args.items()]))
