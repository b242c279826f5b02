"""Export weights for inference (NTech's ``copy_weights*.py``): fp16 safetensors + a model spec.

``python -m src.models.export ckpt=outputs/.../checkpoints/last.ckpt out=models`` writes ``<name>.safetensors``
(the network's weights as float16; with EMA training, Lightning's checkpoint already holds the averaged weights)
and ``<name>.yaml`` (the resolved ``net`` config to rebuild it, its input pipeline, the output type, the weights'
sha256). ``python -m src.models.export ntech=snapshot_364000.fp16.pth model=b7_seq_416 out=models`` does the same
for one of NTech's released files. :func:`load_exported` gives back ``(net, spec)`` with nothing of the training
code's state: no pickle, no optimizer, weights cast back to float32 as NTech's predict.py did.

A model file is data: its ``_target_``s are instantiated only if they are one of this project's own net factories or
evaluation transforms (:data:`ALLOWED_TARGETS`); anything else (``torch.load``, ``os.system``...) runs nothing and
stops with one line.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from src.models.ntech.checkpoints import load_ntech_checkpoint
from src.utils.io import atomic_path
from src.utils.weights import sha256sum

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


# What a model file may build: this project's net factories and evaluation transforms, under today's names.
ALLOWED_TARGETS = frozenset(
    {
        "src.models.ntech.net.ntech_efficientnet",
        "src.models.robustforensics.nets.efficientnet",
        "src.models.robustforensics.nets.timm_classifier",
        "src.models.robustforensics.nets.slowfast",
        "src.models.selim.net.SelimClassifier",
        "src.models.selim.transforms.IsotropicResizePad",
        "src.datamodules.ntech.transforms.ntech_eval",
        "src.datamodules.robustforensics.transforms.image_val",
        "src.datamodules.robustforensics.transforms.clip_val",
    }
)


def allowed(config: Any, source: str | os.PathLike = "model spec") -> Any:
    """``config`` with every ``_target_`` renamed to today's module names, if each is in :data:`ALLOWED_TARGETS`;
    otherwise a ``ValueError`` naming the first one that is not (nothing is imported or run)."""
    for target in _targets(config):
        if current_target(str(target)) not in ALLOWED_TARGETS:
            raise ValueError(
                f"{source}: refusing to build {target!r}: a model file may only name this project's nets and "
                "evaluation transforms (src.models.export.ALLOWED_TARGETS)"
            )
    return _renamed(config)


def _targets(config: Any) -> Iterator[Any]:
    if isinstance(config, dict):
        if "_target_" in config:
            yield config["_target_"]
        for value in config.values():
            yield from _targets(value)
    elif isinstance(config, list):
        for value in config:
            yield from _targets(value)


def _renamed(config: Any) -> Any:
    if isinstance(config, dict):
        renamed = {k: _renamed(v) for k, v in config.items()}
        if "_target_" in renamed:
            renamed["_target_"] = current_target(renamed["_target_"])
        return renamed
    if isinstance(config, list):
        return [_renamed(v) for v in config]
    return config


def build_net(spec: dict[str, Any], source: str | os.PathLike = "model spec") -> nn.Module:
    """The spec's network with no weight source of its own (its weights come from an exported or released file)."""
    net = spec["net"] | {k: v for k, v in INFERENCE_OVERRIDES.items() if k in spec["net"]}
    return instantiate(allowed(net, source))


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
    spec = read_spec(spec_path)
    weights_path = Path(spec_path).parent / spec["weights"]
    if not weights_path.is_file():
        raise FileNotFoundError(f"{weights_path}: weights file of {spec_path} not found")
    if spec.get("sha256") and sha256sum(weights_path) != spec["sha256"]:
        raise ValueError(f"{weights_path}: sha256 differs from the one in {Path(spec_path).name}")
    net = build_net(spec, spec_path)
    try:
        state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(weights_path).items()}
    except (SafetensorError, OSError) as err:
        raise ValueError(f"{weights_path}: not a readable safetensors file, truncated or corrupt ({err})") from err
    check_state_dict(net, state, weights_path)
    net.load_state_dict(state, strict=True)
    return net.to(device).eval(), spec


def read_spec(spec_path: str | os.PathLike) -> dict[str, Any]:
    """An exported model's YAML as plain data, with one line naming the file for a syntax error or a missing key."""
    try:
        spec = OmegaConf.to_container(OmegaConf.load(spec_path), resolve=True)
    except Exception as err:  # yaml's errors print a Mark object, OmegaConf's a multi-line block
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ValueError(f"{spec_path}: not a valid model file: {problem}{where}") from None
    missing = [k for k in ("net", "weights") if not isinstance(spec, dict) or k not in spec]
    if missing:
        raise ValueError(f"{spec_path}: not an exported model spec (no {', '.join(missing)})")
    return spec


def check_state_dict(net: nn.Module, state: dict[str, torch.Tensor], source: str | os.PathLike, shown: int = 3) -> None:
    """One line summarising why ``state`` does not fit ``net`` (counts and the first few keys of each kind)."""
    expected = net.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    if not (missing or unexpected or shapes):
        return
    parts = [
        f"{len(keys)} {what} (e.g. {', '.join(keys[:shown])})"
        for what, keys in (("missing keys", missing), ("unexpected keys", unexpected), ("mis-shaped", shapes))
        if keys
    ]
    raise ValueError(f"{source}: weights do not fit the architecture: {'; '.join(parts)}")


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
