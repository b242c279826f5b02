"""A detector of the ``detector=`` group built outside an entry point, exactly as Hydra composes it there."""

from __future__ import annotations

from hydra.utils import instantiate
from omegaconf import OmegaConf

from src.faces.detectors.base import FaceDetector
from src.utils.config import compose_config


def compose_detector(option: str = "mtcnn", **overrides) -> FaceDetector:
    """``conf/detector/<option>.yaml`` as Hydra composes it, with ``overrides`` (e.g. ``device="cpu"``)."""
    cfg = compose_config(None, [f"+detector={option}"]).detector
    return instantiate(OmegaConf.merge(cfg, overrides))
