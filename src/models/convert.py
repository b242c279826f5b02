"""Released DFDC weights → this project's exported format (fp16 safetensors + spec yaml), with a strict key check.

    python -m src.models.convert release=robustforensics src=downloads/robustforensics out=models
    python -m src.models.convert release=selim src=~/Downloads/selim
    python -m src.models.convert release=ntech src=/data/ntech_models      (files you kept: NTech's link is dead)

``conf/release/<name>.yaml`` lists the released files: the name each is exported under (the one
``conf/ensemble/<name>.yaml`` looks for in ``models_dir``), its file name (a glob inside ``src``), the model it belongs
to (``train.py`` overrides, or the spec itself where this project does not train it) and the loader of the original
container. Every file is read with ``weights_only=True``; one missing, extra or mis-shaped key stops with one line
naming it and the file. Files absent from ``src`` are listed and skipped (drop those members with
``ensemble.members.<name>=null``). ``python -m src.models.release`` downloads first (``make models``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
from hydra import compose
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import get_method
from omegaconf import DictConfig, OmegaConf
from torch import nn

from src.models.export import build_net, model_spec, write_export
from src.utils.config import compose_config
from src.utils.weights import sha256sum

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReleasedFile:
    """One released checkpoint: exported as ``name``; ``file`` is its name (a glob) in the download folder."""

    name: str
    file: str
    model: Sequence[str] = ()  # train.py overrides that give its model config (experiment=rf_b0, model=b7_seq)
    spec: Mapping[str, Any] | None = None  # or the model spec itself (a network this project does not train)
    url: str | None = None
    sha256: str | None = None


@dataclass
class Release:
    """A published set of checkpoints and how to read them (``conf/release/*.yaml``)."""

    name: str
    loader: str | Callable[[str | os.PathLike, nn.Module], Any]  # strict load of one original file into the net
    files: Sequence[ReleasedFile] | Mapping[str, Mapping[str, Any]]
    folder_url: str | None = None  # a Google Drive folder holding every file (RobustForensics)
    homepage: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.loader, str):  # a dotted name: the specs below hold _target_s that must stay data
            self.loader = get_method(self.loader)
        if OmegaConf.is_config(self.files):
            self.files = OmegaConf.to_container(self.files, resolve=True)
        if isinstance(self.files, Mapping):
            self.files = [ReleasedFile(name=k, **dict(v)) for k, v in self.files.items()]


def model_spec_of(released: ReleasedFile) -> dict[str, Any]:
    """The spec (net, input, output, val_transform) of the model a released file belongs to."""
    if released.spec is not None:
        return dict(released.spec) | {"name": released.name}
    if GlobalHydra.instance().is_initialized():  # inside a Hydra app: compose from its config search path
        cfg = compose("train", overrides=list(released.model))
    else:
        cfg = compose_config("train", released.model)
    return model_spec(cfg.model) | {"name": released.name}


def locate(src: Path, released: ReleasedFile) -> Path | None:
    """The one file of ``src`` matching ``released.file``; None if absent; an error if the pattern is ambiguous."""
    matches = sorted(p for p in src.glob(released.file) if p.is_file())
    if len(matches) > 1:
        raise ValueError(f"{src}: {len(matches)} files match {released.file!r} for {released.name}: {matches[:3]}")
    return matches[0] if matches else None


def convert_file(release: Release, released: ReleasedFile, path: Path, out_dir: Path) -> Path:
    """Load ``path`` strictly into its network and export it; returns the exported yaml."""
    actual = sha256sum(path)
    if released.sha256 and actual != released.sha256.lower():
        raise ValueError(f"{path}: sha256 {actual} differs from {released.sha256} in conf/release/{release.name}.yaml")
    spec = model_spec_of(released)
    net = build_net(spec)
    release.loader(path, net)
    return write_export(
        net.state_dict(), spec, out_dir, released.name, release=release.name, source_file=path.name,
        source_sha256=actual,
    )  # fmt: skip


def convert_release(release: Release, src: str | os.PathLike, out_dir: str | os.PathLike) -> list[Path]:
    """Export every file of ``release`` found in ``src`` into ``out_dir``; absent ones are logged and skipped."""
    src, out_dir = Path(src).expanduser(), Path(out_dir).expanduser()
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: folder of released {release.name} files not found")
    found = [(r, locate(src, r)) for r in release.files]
    missing = [r for r, p in found if p is None]
    for released in missing:
        log.warning("%s: %s not found, %s skipped", src, released.file, released.name)
    if len(missing) == len(found):
        names = ", ".join(r.file for r in release.files[:3])
        raise FileNotFoundError(f"{src}: none of the {len(found)} {release.name} files is there (e.g. {names})")
    return [convert_file(release, r, p, out_dir) for r, p in found if p is not None]


def release_of(cfg: DictConfig) -> Release:
    return hydra.utils.instantiate(cfg.release)


@hydra.main(version_base="1.3", config_path="../../conf", config_name="models")
def main(cfg: DictConfig) -> None:
    try:
        written = convert_release(release_of(cfg), cfg.src, cfg.out)
    except (OSError, ValueError, KeyError) as exc:
        raise SystemExit(f"convert: {' '.join(str(exc).split())}") from None
    for path in written:
        print(path)
    print(f"{len(written)} models written to {cfg.out} ({OmegaConf.select(cfg, 'release.name')})")


if __name__ == "__main__":
    main()
