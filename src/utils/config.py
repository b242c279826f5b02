"""Config checks that turn a wrong or missing value into one clear line before any work starts."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from omegaconf import DictConfig, OmegaConf


def missing_keys(cfg: DictConfig) -> list[str]:
    """Dotted paths of every mandatory value (``???``) left unset in ``cfg``."""
    found: list[str] = []

    def walk(node, prefix: str) -> None:
        if isinstance(node, DictConfig):
            for key in node:
                path = f"{prefix}{key}"
                if OmegaConf.is_missing(node, key):
                    found.append(path)
                else:
                    walk(node._get_node(key), f"{path}.")

    walk(cfg, "")
    return found


def check_missing(cfg: DictConfig) -> None:
    if missing := missing_keys(cfg):
        raise SystemExit(f"config error: set {', '.join(missing)} (e.g. {missing[0]}=...) on the command line")


def one_line(exc: BaseException) -> str:
    """An error as one line: whitespace collapsed, a Hydra instantiation error replaced by its cause, never empty."""
    from hydra.errors import InstantiationException

    if isinstance(exc, InstantiationException) and exc.__cause__ is not None:
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
