"""Config helpers: compose ``conf/`` outside an entry point, and turn a wrong or missing value into one clear line."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.errors import InstantiationException
from omegaconf import Container, DictConfig, ListConfig, OmegaConf

from src.utils.paths import CONF_DIR


def compose_config(name: str | None = None, overrides: Sequence[str] = ()) -> DictConfig:
    """Hydra's composition of ``conf/<name>.yaml`` (or, with ``name=None``, of the ``+group=option`` overrides alone),
    as ``python <entry point> overrides...`` would see it (for code and tests that run outside ``@hydra.main``)."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(name, overrides=list(overrides))


def missing_keys(cfg: Container) -> list[str]:
    """Full keys (``data.root``, ``members[1]``) of every mandatory value (``???``) left unset, in config order.

    Like ``OmegaConf.missing_keys``, which names keys the same way, but without resolving interpolations: that one
    reads every value, so a key interpolating a missing one (``${data.root}/index``) or ``${hydra:...}`` outside a run
    raises instead of being listed.
    """
    found: list[str] = []

    def walk(node: Container) -> None:
        for key in range(len(node)) if isinstance(node, ListConfig) else node.keys():
            if OmegaConf.is_missing(node, key):
                found.append(node._get_full_key(key))
            elif isinstance(child := node._get_node(key), Container):
                walk(child)

    walk(cfg)
    return found


def check_missing(cfg: DictConfig) -> None:
    if missing := missing_keys(cfg):
        raise SystemExit(f"config error: set {', '.join(missing)} (e.g. {missing[0]}=...) on the command line")


def one_line(exc: BaseException) -> str:
    """An error as one line: whitespace collapsed, a Hydra instantiation error replaced by its cause, never empty."""
    while isinstance(exc, InstantiationException) and exc.__cause__ is not None:
        exc = exc.__cause__
    return " ".join(str(exc).split()) or type(exc).__name__


def check_shard(shard: object, num_shards: object) -> None:
    """``shard=i num_shards=n`` must be integers with 0 <= i < n."""
    if not isinstance(num_shards, int) or isinstance(num_shards, bool) or num_shards < 1:
        raise SystemExit(f"config error: num_shards must be a whole number >= 1, got {num_shards!r}")
    if not isinstance(shard, int) or isinstance(shard, bool) or not 0 <= shard < num_shards:
        raise SystemExit(f"config error: shard must be a whole number 0 <= shard < {num_shards}, got {shard!r}")


def check_writable(folder: str | os.PathLike, setting: str) -> None:
    """Create ``folder`` and write a file there now, so an unwritable output stops the run before any work."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise SystemExit(f"config error: {setting}={folder} is not writable ({one_line(exc)})") from None
