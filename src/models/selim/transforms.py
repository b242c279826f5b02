"""Selim's test-time image pipeline (spec selim.md, steps 4-5): isotropic resize of the face crop so its longer side
is ``size`` (INTER_AREA when shrinking, INTER_CUBIC when enlarging, sizes truncated to int), placed at the centre of
a black ``size``×``size`` image, then RGB/255 normalised with ImageNet mean and std.

Called like an albumentations transform (``transform(image=crop)["image"]``) so an ensemble member can use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class IsotropicResizePad:
    size: int = 380
    mean: Sequence[float] = (0.485, 0.456, 0.406)
    std: Sequence[float] = (0.229, 0.224, 0.225)

    def resize(self, image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        if max(height, width) == self.size:
            return image
        scale = self.size / max(height, width)
        shape = (self.size, int(width * scale)) if height >= width else (int(height * scale), self.size)
        interpolation = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
        return cv2.resize(image, (max(shape[1], 1), max(shape[0], 1)), interpolation=interpolation)

    def pad(self, image: np.ndarray) -> np.ndarray:
        image = image[: self.size, : self.size]
        canvas = np.zeros((self.size, self.size, 3), np.uint8)
        top, left = (self.size - image.shape[0]) // 2, (self.size - image.shape[1]) // 2
        canvas[top : top + image.shape[0], left : left + image.shape[1]] = image
        return canvas

    def __call__(self, image: np.ndarray, **_) -> dict[str, np.ndarray]:
        square = self.pad(self.resize(image)).astype(np.float32) / 255.0
        return {"image": (square - np.float32(self.mean)) / np.float32(self.std)}
