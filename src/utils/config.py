"""Config helpers: compose ``conf/`` outside an entry point, and turn a wrong or missing value into one clear line."""

from __future__ import annotations

from collections.abc import Sequence

from hydra import compose, initialize_config_dir
from hydra.errors import InstantiationException
from omegaconf import Container, DictConfig, ListConfig, OmegaConf

from src.utils.paths import CONF_DIR

# The one place that knows where the configs live; the entry points name it relative to themselves (@hydra.main).


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
