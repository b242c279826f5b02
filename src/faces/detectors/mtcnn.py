"""MTCNN from facenet-pytorch: the default detector, because its weights ship inside the wheel (no download).

Frames are downscaled so the longer side is at most ``max_size`` before detection (full 1080p costs ~1 s per frame
on a 2-core CPU) and the boxes and landmarks scaled back to source pixels. Dark frames are brightened to a mean
of ``min_brightness`` first: MTCNN scores a face in a dim room (``dfdc/abofeumbvv.mp4``, mean 34/255) 0.7-0.9 and
misses a third of them; brightened, 0.97-1.0. The brightness is measured on the pixels that are not black and the
gain is capped at ``max_gain``: a face crop over a black canvas or a letterboxed video has a low frame mean only
because of its borders, and brightening it by the frame mean (up to x32) burned the face out (MTCNN then found
nothing; unbrightened, it scores 0.99). ``scale`` instead of ``max_size`` downscales every frame by a fixed factor
with PIL, as Selim Seferbekov's pipeline does (half size, ``conf/detector/mtcnn_selim.yaml``). Two filters drop
what a deepfake pipeline cannot use: faces scoring under ``min_score`` and faces whose shorter box side is under
``min_face_fraction`` of the frame's shorter side (people far away, faces in photos on the wall). The defaults were
chosen on ``../shared/realvideos`` (see ``conf/detector/mtcnn.yaml`` and ``docs/benchmarks.md``).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import torch
from facenet_pytorch import MTCNN
from PIL import Image

from src.faces.detectors.base import FrameDetections, Frames
from src.faces.detectors.mtcnn_cascade import MTCNNCascade
from src.faces.detectors.torch_detector import BatchedDetector


class MTCNNDetector(BatchedDetector):
    def __init__(
        self,
        name: str = "mtcnn",
        max_size: int | None = 640,
        min_face_size: int = 40,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
        factor: float = 0.709,
        min_score: float = 0.97,
        min_face_fraction: float = 0.0,
        min_brightness: float | None = 130.0,
        max_gain: float = 4.0,
        scale: float | None = None,
        device: str = "auto",
        fp16: bool = False,
        batch_size: int = 16,
    ):
        super().__init__(name, device, fp16, batch_size)
        self.max_size = max_size
        self.min_face_size = min_face_size
        self.thresholds = tuple(thresholds)
        self.factor = factor
        self.min_score = min_score
        self.min_face_fraction = min_face_fraction
        self.min_brightness = min_brightness
        self.max_gain = max_gain
        self.scale = scale
        if scale is not None and max_size is not None:
            raise ValueError(f"{name}: give max_size or scale, not both (got {max_size} and {scale})")
        self.mtcnn = MTCNN(
            min_face_size=min_face_size,
            thresholds=list(self.thresholds),
            factor=factor,
            keep_all=True,
            select_largest=False,
            post_process=False,
            device=self.device,
        ).to(self.dtype)  # its nets and weights; the cascade runs them (facenet-pytorch's own detect is the reference)
        self.cascade = MTCNNCascade(
            self.mtcnn.pnet, self.mtcnn.rnet, self.mtcnn.onet, min_face_size, self.thresholds, factor, self.dtype
        )

    @property
    def config(self) -> dict[str, Any]:
        return super().config | {
            "max_size": self.max_size,
            "min_face_size": self.min_face_size,
            "thresholds": list(self.thresholds),
            "factor": self.factor,
            "min_score": self.min_score,
            "min_face_fraction": self.min_face_fraction,
            "min_brightness": self.min_brightness,
            "max_gain": self.max_gain,
            "scale": self.scale,
        }

    def _detect_batch(self, frames: Frames) -> list[FrameDetections]:
        height, width = frames[0].shape[:2]
        scale = np.ones(2, np.float32)  # x, y
        if self.scale is not None:  # PIL's default resampling and truncated sizes; boxes scaled back by 1 / scale
            size = (int(width * self.scale), int(height * self.scale))
            frames = np.stack([np.asarray(Image.fromarray(frame).resize(size)) for frame in frames])
            scale = np.full(2, self.scale, np.float32)
        elif self.max_size and max(height, width) > self.max_size:
            factor = self.max_size / max(height, width)
            size = (round(width * factor), round(height * factor))
            frames = np.stack([cv2.resize(frame, size, interpolation=cv2.INTER_AREA) for frame in frames])
            scale = np.array([size[0] / width, size[1] / height], np.float32)
        if self.min_brightness:
            frames = brighten(frames, self.min_brightness, self.max_gain)
        min_side = self.min_face_fraction * min(height, width)
        results = []
        for faces in self.cascade(torch.from_numpy(np.ascontiguousarray(frames)).to(self.device)):
            found = FrameDetections(faces.boxes / np.tile(scale, 2), faces.scores, faces.landmarks / scale)
            sides = np.minimum(found.boxes[:, 2] - found.boxes[:, 0], found.boxes[:, 3] - found.boxes[:, 1])
            results.append(found.filter((found.scores >= self.min_score) & (sides >= min_side)))
        return results


def brighten(frames: np.ndarray, min_mean: float, max_gain: float = 4.0, black: int = 16) -> np.ndarray:
    """Scale each uint8 frame (N, H, W, 3) whose content is darker than ``min_mean`` towards it (clipped at 255).

    The content is every pixel brighter than ``black`` in some channel: black borders and canvases do not count.
    The gain is at most ``max_gain``; a frame with no content is left as it is. Frames that need no gain are
    returned as they are (the array is copied only when some frame changes).
    """
    out = frames
    for n, frame in enumerate(frames):
        content = (cv2.max(cv2.max(frame[..., 0], frame[..., 1]), frame[..., 2]) > black).astype(np.uint8)
        pixels = cv2.countNonZero(content)
        if pixels == 0:
            continue
        mean = sum(cv2.mean(frame, mask=content)[:3]) / 3
        gain = min(max(min_mean / max(mean, 1.0), 1.0), max_gain)
        if gain > 1.0:
            if out is frames:
                out = frames.copy()
            lut = np.minimum(np.arange(256, dtype=np.float32) * np.float32(gain), 255).astype(np.uint8)
            out[n] = cv2.LUT(frame, lut)
    return out
