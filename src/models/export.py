"""Export weights for inference (NTech's ``copy_weights*.py``): fp16 safetensors + a model spec.

``python -m src.models.export ckpt=outputs/.../checkpoints/last.ckpt out=models`` writes ``<name>.safetensors``
(the network's weights as float16; with EMA training, Lightning's checkpoint already holds the averaged weights)
and ``<name>.yaml`` (the resolved ``net`` config to rebuild it, its input pipeline, the output type, the weights'
sha256). ``python -m src.models.export ntech=snapshot_364000.fp16.pth model=b7_seq_416 out=models`` does the same
for one of NTech's released files. :func:`load_exported` gives back ``(net, spec)`` with nothing of the training
code's state: no pickle, no optimizer, weights cast back to float32 as NTech's predict.py did.
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
from src.models.ntech.checkpoints import load_ntech_checkpoint
from src.utils.io import atomic_path

NET_PREFIX = "net."
SPEC_KEYS = ("name", "net", "input", "output", "val_transform")
# Inference takes its weights from the exported file (no hub download, no init file) and needs no recomputation.
INFERENCE_OVERRIDES = {
    "pretrained": False,
    "pretrained_file": None,
    "pretrained_sha256": None,
    "init_path": None,
    "grad_checkpointing": False,
}


def model_spec(model: DictConfig) -> dict[str, Any]:
    """What rebuilds a model config's net and its input pipeline, as plain data (stored in training checkpoints)."""
    # Resolved in place: a masked copy would lose the root that ${model.input...} interpolations point into.
    return {
        k: OmegaConf.to_container(model[k], resolve=True) if OmegaConf.is_config(model[k]) else model[k]
        for k in SPEC_KEYS
        if k in model
    }


# Modules renamed by the package layout of docs/architecture.md: models exported before it still load.
MOVED_MODULES = {
    "src.models.ntech.": "src.models.ntech.net.",
    "src.models.rf_nets.": "src.models.robustforensics.nets.",
    "src.datamodules.transforms.": "src.datamodules.ntech.transforms.",
    "src.datamodules.rf_transforms.": "src.datamodules.robustforensics.transforms.",
}


def current_target(target: str) -> str:
    """``target`` under today's module names (exported specs and checkpoints keep the name they were written with)."""
    for old, new in MOVED_MODULES.items():
        if target.startswith(old) and target.count(".") == old.count("."):
            return new + target.removeprefix(old)
    return target


def build_net(spec: dict[str, Any]) -> nn.Module:
    """The spec's network with no weight source of its own (its weights come from an exported or released file)."""
    net = spec["net"] | {k: v for k, v in INFERENCE_OVERRIDES.items() if k in spec["net"]}
    return instantiate(net | {"_target_": current_target(net["_target_"])})


def write_export(
    weights: dict[str, torch.Tensor], spec: dict[str, Any], out_dir: str | os.PathLike, name: str, **provenance: Any
) -> Path:
    """``<out_dir>/<name>.safetensors`` (float16) and ``<name>.yaml``; returns the yaml's path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights_path = out_dir / f"{name}.safetensors"
    half = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in weights.items()}
    with atomic_path(weights_path) as tmp:
        save_file(half, tmp, metadata={"format": "pt"})
    exported = {**spec, "name": name, "weights": weights_path.name, "sha256": sha256sum(weights_path), **provenance}
    spec_path = out_dir / f"{name}.yaml"
    with atomic_path(spec_path) as tmp:
        OmegaConf.save(OmegaConf.create(exported), tmp)
    return spec_path


def export_checkpoint(ckpt_path: str | os.PathLike, out_dir: str | os.PathLike, name: str | None = None) -> Path:
    """Export the network of a training checkpoint written by train.py."""
    ckpt_path = Path(ckpt_path)
    try:
        checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"{ckpt_path}: cannot read checkpoint ({type(err).__name__}: {err})") from err
    spec = checkpoint.get("hyper_parameters", {}).get("spec")
    if not spec or "net" not in spec:
        raise ValueError(f"{ckpt_path}: no model spec in the checkpoint (not written by train.py)")
    weights = {k.removeprefix(NET_PREFIX): v for k, v in checkpoint["state_dict"].items() if k.startswith(NET_PREFIX)}
    return write_export(
        weights,
        spec,
        out_dir,
        name or spec.get("name") or ckpt_path.stem,
        global_step=int(checkpoint.get("global_step", -1)),
        source_checkpoint=str(ckpt_path),
    )


def export_ntech_release(
    path: str | os.PathLike, spec: dict[str, Any], out_dir: str | os.PathLike, name: str | None = None
) -> Path:
    """Export one of NTech's released ``*.fp16.pth`` files (or snapshots) with the model config it belongs to."""
    net = build_net(spec)
    load_ntech_checkpoint(path, net)
    return write_export(net.state_dict(), spec, out_dir, name or spec["name"], source_checkpoint=str(path))


def load_exported(spec_path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """``(net in eval mode, spec dict)`` from an exported ``<name>.yaml`` and its safetensors file."""
    spec_path = Path(spec_path)
    spec = OmegaConf.to_container(OmegaConf.load(spec_path), resolve=True)
    weights_path = spec_path.parent / spec["weights"]
    if spec.get("sha256") and sha256sum(weights_path) != spec["sha256"]:
        raise ValueError(f"{weights_path}: sha256 differs from the one in {spec_path.name}")
    net = build_net(spec)
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(weights_path).items()}
    net.load_state_dict(state, strict=True)
    return net.to(device).eval(), spec


@hydra.main(version_base="1.3", config_path="../../conf", config_name="export")
def main(cfg: DictConfig) -> None:
    if (cfg.ckpt is None) == (cfg.ntech is None):
        raise SystemExit("config error: give ckpt=<train.py checkpoint> or ntech=<released .pth> (with model=...)")
    if cfg.ckpt is not None:
        path = export_checkpoint(cfg.ckpt, cfg.out, cfg.name)
    else:
        path = export_ntech_release(cfg.ntech, model_spec(cfg.model), cfg.out, cfg.name)
    print(path)
    if cfg.get("wandb"):
        from src.models.wandb_media import log_model_artifact

        print(f"wandb artifact logged (run files: {log_model_artifact(path, save_dir=cfg.out)})")


if __name__ == "__main__":
    main()
