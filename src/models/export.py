"""Export a trained checkpoint for inference (NTech's ``copy_weights*.py``): fp16 safetensors + a model spec.

``python -m src.models.export ckpt=outputs/.../checkpoints/best.ckpt out=models/`` writes ``<name>.safetensors``
(the network's weights as float16; with EMA training, Lightning's checkpoint already holds the averaged weights)
and ``<name>.yaml`` (the resolved ``net`` config to rebuild it, its input pipeline, the output type, the weights'
sha256). :func:`load_exported` gives back ``(net, spec)`` with nothing of the training code's state: no pickle,
no optimizer, weights cast back to float32 as NTech's predict.py did.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from safetensors.torch import load_file, save_file
from torch import nn

from src.models.backbones import sha256sum
from src.utils.io import atomic_path

NET_PREFIX = "net."
# Inference takes its weights from the exported file (no hub download, no init file) and needs no recomputation.
INFERENCE_OVERRIDES = {
    "pretrained": False,
    "pretrained_file": None,
    "pretrained_sha256": None,
    "init_path": None,
    "grad_checkpointing": False,
}


def export_checkpoint(ckpt_path: str | os.PathLike, out_dir: str | os.PathLike, name: str | None = None) -> Path:
    """Write ``<out_dir>/<name>.safetensors`` and ``<name>.yaml`` from a training checkpoint; returns the yaml."""
    ckpt_path, out_dir = Path(ckpt_path), Path(out_dir)
    try:
        checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"{ckpt_path}: cannot read checkpoint ({type(err).__name__}: {err})") from err
    spec = checkpoint.get("hyper_parameters", {}).get("spec")
    if not spec or "net" not in spec:
        raise ValueError(f"{ckpt_path}: no model spec in the checkpoint (not written by train.py)")
    name = name or spec.get("name") or ckpt_path.stem
    weights = {
        k.removeprefix(NET_PREFIX): (v.half() if v.is_floating_point() else v).contiguous()
        for k, v in checkpoint["state_dict"].items()
        if k.startswith(NET_PREFIX)
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    weights_path = out_dir / f"{name}.safetensors"
    with atomic_path(weights_path) as tmp:
        save_file(weights, tmp, metadata={"format": "pt", "source": ckpt_path.name})
    exported = {
        **spec,
        "name": name,
        "weights": weights_path.name,
        "sha256": sha256sum(weights_path),
        "global_step": int(checkpoint.get("global_step", -1)),
        "source_checkpoint": str(ckpt_path),
    }
    spec_path = out_dir / f"{name}.yaml"
    with atomic_path(spec_path) as tmp:
        OmegaConf.save(OmegaConf.create(exported), tmp)
    return spec_path


def load_exported(spec_path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """``(net in eval mode, spec dict)`` from an exported ``<name>.yaml`` and its safetensors file."""
    spec_path = Path(spec_path)
    spec = OmegaConf.to_container(OmegaConf.load(spec_path), resolve=True)
    weights_path = spec_path.parent / spec["weights"]
    if spec.get("sha256") and sha256sum(weights_path) != spec["sha256"]:
        raise ValueError(f"{weights_path}: sha256 differs from the one in {spec_path.name}")
    net_cfg = spec["net"] | {k: v for k, v in INFERENCE_OVERRIDES.items() if k in spec["net"]}
    net = instantiate(net_cfg)
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(weights_path).items()}
    net.load_state_dict(state, strict=True)
    return net.to(device).eval(), spec


@hydra.main(version_base="1.3", config_path="../../conf", config_name="export")
def main(cfg: DictConfig) -> None:
    print(export_checkpoint(cfg.ckpt, cfg.out, cfg.name))


if __name__ == "__main__":
    main()
