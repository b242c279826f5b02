"""Config checks that turn a wrong or missing value into one clear line before any work starts."""

from __future__ import annotations

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
