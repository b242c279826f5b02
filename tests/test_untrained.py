"""Randomly initialised exports: the config ``python -m src.inference.untrained`` composes, and what it writes."""

from __future__ import annotations

import torch

from src.inference.untrained import export_random_init, export_untrained
from src.models.export import load_exported
from src.utils.config import compose_config


def test_the_command_config_and_the_function_export_the_same_loadable_net(tmp_path):
    cfg = compose_config("untrained", ["name=tiny_frame", "model=tiny", "model.net.seq_length=null", "init_seed=3"])
    assert (cfg.name, cfg.out, cfg.init_seed) == ("tiny_frame", "models/untrained", 3)
    by_command = export_random_init(cfg.model, tmp_path / "a", cfg.name, cfg.init_seed)
    by_function = export_untrained(tmp_path / "b", "tiny_frame", ["model=tiny", "model.net.seq_length=null"], seed=3)
    net, spec = load_exported(by_command)
    other, _ = load_exported(by_function)
    assert spec["name"] == "tiny_frame" and spec["random_init_seed"] == 3 and spec["global_step"] == 0
    for (key, a), b in zip(net.state_dict().items(), other.state_dict().values(), strict=True):
        assert torch.equal(a, b), key  # the same seed gives the same weights, however the config was composed
    assert not (tmp_path / "a" / "tiny_frame.ckpt").exists()  # no throwaway checkpoint
