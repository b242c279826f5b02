"""Shared pieces of the prediction tests: real videos to score, a fixed-box detector, a tiny ensemble, CSV rows."""

from __future__ import annotations

import csv
from pathlib import Path

import albumentations as A
import numpy as np
import timm
import torch
from torch import nn

from src.faces.detectors.base import FaceDetector, FrameDetections
from src.faces.tracking.trackers import NtechTracker
from src.inference.aggregation import ntech_rule
from src.inference.crops import NtechFrames, NtechSequences
from src.inference.ensemble import Ensemble, ExportedModel, Member
from src.video.sampling import FirstFrames
from tests.helpers import REALVIDEOS, require_realvideos

VIDEOS = [
    "dfdc/abqwwspghj.mp4",
    "ffpp/original_sequences/youtube/c23/videos/519.mp4",
    "other/facenet-pytorch/video.mp4",
]


def video_folder(root: Path) -> Path:
    """``root`` with the real VIDEOS (symlinked) plus a truncated copy and an empty file."""
    require_realvideos()
    for video in VIDEOS:
        (root / video).parent.mkdir(parents=True, exist_ok=True)
        (root / video).symlink_to(REALVIDEOS / video)
    data = (REALVIDEOS / VIDEOS[0]).read_bytes()
    (root / "broken").mkdir()
    (root / "broken" / "truncated.mp4").write_bytes(data[: len(data) // 50])
    (root / "broken" / "empty.mp4").write_bytes(b"")
    return root


class CentreBox(FaceDetector):
    """A square face box in the middle of every frame (or none): deterministic tracks for pipeline tests."""

    name = "centre_box"

    def __init__(self, faces: bool = True):
        self.faces = faces

    def detect(self, frames: np.ndarray) -> list[FrameDetections]:
        h, w = frames.shape[1:3]
        side = min(h, w) / 3
        box = [w / 2 - side / 2, h / 2 - side / 2, w / 2 + side / 2, h / 2 + side / 2]
        return [FrameDetections([box], [0.99]) if self.faces else FrameDetections.empty() for _ in frames]


class Clips(nn.Module):
    """(N, T, 3, H, W) → (N, T) per-frame logits through timm's tiny test EfficientNet."""

    def __init__(self, seed: int):
        super().__init__()
        torch.manual_seed(seed)
        self.net = timm.create_model("test_efficientnet", num_classes=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(0, 1)).view(x.shape[:2])


class Broken(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("CUDA out of memory (simulated)")


TRANSFORM = A.Compose([A.SmallestMaxSize(max_size=64), A.CenterCrop(64, 56), A.Normalize()])


def ensemble(broken: bool = False) -> Ensemble:
    frame_net = Broken() if broken else Clips(1)
    members = [  # the frame member's layout: NTech's frame models take (N, 1, C, H, W) clips
        Member("seq", ExportedModel(Clips(0).eval()), NtechSequences(length=7), TRANSFORM),
        Member("frame", ExportedModel(frame_net.eval()), NtechFrames(phases=(0, 1, 2, 3)), TRANSFORM),
    ]
    members[1].layout = "sequence"
    return Ensemble(
        "test",
        members,
        ntech_rule,
        NtechTracker(t_min=3, interpolate_fps=15),
        FirstFrames(lambda info: np.arange(0, info.num_frames, max(1, round(int(info.fps) / 15))), max_frames=40),
        detect_every=3,
    )


def rows(path) -> dict[str, str]:
    with open(path, newline="") as handle:
        reader = csv.reader(handle)
        assert next(reader) == ["filename", "label"]
        return dict(reader)
