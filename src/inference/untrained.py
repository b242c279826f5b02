"""Export randomly initialised networks of a training model config, exactly as ``python -m src.models.export`` would
export a trained one: what speed benchmarks and pipeline tests score videos with (speed does not depend on weights).

python -m src.inference.untrained name=tiny_seq model=tiny [out=models/untrained init_seed=0 model.net.x=y ...]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from src.models.export import build_net, model_spec, write_export
from src.utils.config import check_missing, compose_config


def export_random_init(model: DictConfig, out_dir: str | Path, name: str, seed: int = 0) -> Path:
    """``<out_dir>/<name>.yaml`` (+ ``.safetensors``) of the composed ``model`` config's net with random weights."""
    spec = model_spec(model)
    torch.manual_seed(seed)
    net = build_net(spec)  # no weight source: no hub download, no init file
    return write_export(net.state_dict(), spec, out_dir, name, global_step=0, random_init_seed=seed)


def export_untrained(out_dir: str | Path, name: str, overrides: Sequence[str] = (), seed: int = 0) -> Path:
    """:func:`export_random_init` of the model that ``python train.py <overrides>`` would train."""
    return export_random_init(compose_config("train", overrides).model, out_dir, name, seed)


@hydra.main(version_base="1.3", config_path="../../conf", config_name="untrained")
def main(cfg: DictConfig) -> None:
    if OmegaConf.is_missing(cfg, "name"):
        raise SystemExit("config error: set name=... (the exported model's name) on the command line")
    check_missing(cfg.model)  # only the model: the data a training run would read is not needed
    print(export_random_init(cfg.model, cfg.out, cfg.name, cfg.init_seed))


if __name__ == "__main__":
    main()
