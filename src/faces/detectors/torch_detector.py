"""What every PyTorch face detector shares: device choice, fp16, batching, strict weight loading, SSD box decoding."""

from __future__ import annotations

import abc
import copy
import itertools
from typing import Any

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from src.faces.detectors.base import FaceDetector, FrameDetections, Frames
from src.faces.detectors.weights import WeightsError, WeightsFile, load_state_dict


def resolve_device(device: str) -> torch.device:
    """``auto`` = the first CUDA device if there is one, else the CPU; an unavailable CUDA device is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device} but no CUDA device is visible; use device=cpu or device=auto")
    return resolved


class BatchedDetector(FaceDetector):
    """Runs ``_detect_batch`` on at most ``batch_size`` frames at a time, in inference mode, on ``device``."""

    takes_frame_lists = True

    def __init__(self, name: str, device: str = "auto", fp16: bool = False, batch_size: int = 8):
        if batch_size < 1:
            raise ValueError(f"{name}: batch_size must be >= 1, got {batch_size}")
        self.name = name
        self.device = resolve_device(device)
        if fp16 and self.device.type != "cuda":
            raise ValueError(f"{name}: fp16 needs a CUDA device, got device={self.device}")
        self.fp16 = fp16
        self.dtype = torch.float16 if fp16 else torch.float32
        self.batch_size = batch_size

    def detect(self, frames: Frames) -> list[FrameDetections]:
        results: list[FrameDetections] = []
        with torch.inference_mode():
            for start in range(0, len(frames), self.batch_size):
                results += self._detect_batch(frames[start : start + self.batch_size])
        return results

    @abc.abstractmethod
    def _detect_batch(self, frames: Frames) -> list[FrameDetections]:
        """At most ``batch_size`` frames (an array or a list of same-size arrays, see :class:`FaceDetector`)."""

    @property
    def config(self) -> dict[str, Any]:
        return {"name": self.name, "device": str(self.device), "fp16": self.fp16, "batch_size": self.batch_size}


def load_network(net: nn.Module, weights: WeightsFile | None) -> nn.Module:
    """Load ``weights`` into ``net`` strictly (random init when None); a mismatch is one line naming the file."""
    if weights is not None:
        path = weights.require()
        state = load_state_dict(path)
        missing, unexpected = _key_mismatch(net, state)
        if missing or unexpected:
            raise WeightsError(
                f"{path}: does not fit {type(net).__name__}: {len(missing)} missing keys {missing[:3]}, "
                f"{len(unexpected)} unexpected keys {unexpected[:3]}"
            )
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise WeightsError(f"{path}: does not fit {type(net).__name__}: {' '.join(str(exc).split())}") from exc
    return net.eval()


def fuse_batchnorm(net: nn.Module) -> nn.Module:
    """An inference copy of ``net`` (in eval mode) where every BatchNorm2d that directly follows a Conv2d inside a
    Sequential is folded into that conv's weights and bias (and replaced by Identity): the same outputs to float
    rounding, without the separate normalisation pass (a fifth of RetinaFace-mnet's CPU time). ``net`` itself, its
    state dict included, is left as it is."""
    fused = copy.deepcopy(net).eval()
    for module in fused.modules():
        if not isinstance(module, nn.Sequential):
            continue
        names = list(module._modules)
        for conv_name, norm_name in itertools.pairwise(names):
            conv, norm = module._modules[conv_name], module._modules[norm_name]
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                module._modules[conv_name] = fuse_conv_bn_eval(conv, norm)
                module._modules[norm_name] = nn.Identity()
    return fused


def _key_mismatch(net: nn.Module, state: dict[str, torch.Tensor]) -> tuple[list[str], list[str]]:
    expected = set(net.state_dict())
    return sorted(expected - set(state)), sorted(set(state) - expected)


def decode_boxes(loc: torch.Tensor, priors: torch.Tensor, variances: tuple[float, float]) -> torch.Tensor:
    """SSD centre-size decoding of offsets ``loc`` (..., P, 4) against ``priors`` (P, 4) cx, cy, w, h -> x1y1x2y2,
    in the priors' normalised units."""
    centers = priors[:, :2] + loc[..., :2] * variances[0] * priors[:, 2:]
    sizes = priors[:, 2:] * torch.exp(loc[..., 2:] * variances[1])
    top_left = centers - sizes / 2
    return torch.cat([top_left, top_left + sizes], dim=-1)


def decode_landmarks(pre: torch.Tensor, priors: torch.Tensor, variance: float) -> torch.Tensor:
    """Five landmark offsets ``pre`` (..., P, 10) -> points (..., P, 5, 2) in the priors' normalised units."""
    offsets = pre.unflatten(-1, (5, 2))
    return priors[:, None, :2] + offsets * variance * priors[:, None, 2:]
