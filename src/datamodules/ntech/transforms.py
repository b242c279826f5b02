"""NTechLab's image pipelines (spec ntechlab_detail §2.2, §2.3, §3) as albumentations 2.x ``Compose`` builders.

Call a pipeline with ``images=`` (N, H, W, 3): albumentations draws the parameters once and applies them to every
image, which is how the real and fake clip of a pair, and all frames of a sequence, get identical augmentation
(NTech restored Python's random state before each image for the same effect). Each pipeline ends in ImageNet
``Normalize``; the dataset turns the result into (N, 3, H, W) tensors.

timm's AutoAugment and RandomErasing draw from Python's global ``random`` (and torch, for the erasing noise); the
wrappers below reseed it from the parameters albumentations drew, so the result depends only on the sample's seed.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import albumentations as A
import cv2
import numpy as np
import torch
from PIL import Image
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.data.auto_augment import auto_augment_transform
from timm.data.random_erasing import RandomErasing


class AutoAugment(A.ImageOnlyTransform):
    """timm AutoAugment on uint8 RGB (NTech: ``'original-mstd0.5'`` at p 0.5, fill = the ImageNet mean in 0..255,
    translate_const = ``int(0.45 · min(H, W))`` of the image it sees, random bilinear/bicubic resampling)."""

    def __init__(self, policy: str = "original-mstd0.5", mean: Sequence[float] = IMAGENET_DEFAULT_MEAN, p: float = 0.5):
        super().__init__(p=p)
        self.policy = policy
        self.fill = tuple(round(255 * m) for m in mean)
        self._by_size: dict[tuple[int, int], Any] = {}

    def get_params(self) -> dict[str, Any]:
        return {"seed": self.py_random.getrandbits(32)}

    def apply(self, img: np.ndarray, seed: int, **params: Any) -> np.ndarray:
        size = img.shape[:2]
        if size not in self._by_size:
            hparams = {"translate_const": int(0.45 * min(size)), "img_mean": self.fill}
            self._by_size[size] = auto_augment_transform(self.policy, hparams)
        with _python_random(seed):
            return np.asarray(self._by_size[size](Image.fromarray(img)))


class PixelErasing(A.ImageOnlyTransform):
    """timm ``RandomErasing`` (NTech's ``re`` model: p 0.2, pixel mode, one box) on a normalised float image.

    All images of one call share the box; the N(0, 1) fill differs per image, as in NTech (torch noise per image).
    """

    def __init__(self, p: float = 0.2, mode: str = "pixel", max_count: int = 1):
        super().__init__(p=1.0)  # RandomErasing draws its own probability from the shared seed
        self.erase = RandomErasing(probability=p, mode=mode, max_count=max_count, num_splits=0, device="cpu")

    def get_params(self) -> dict[str, Any]:
        return {"seed": self.py_random.getrandbits(32)}

    def apply_to_images(self, images: np.ndarray, seed: int, **params: Any) -> np.ndarray:
        out = []
        for position, image in enumerate(images):
            tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
            with _python_random(seed), torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed + position)
                out.append(self.erase(tensor).numpy().transpose(1, 2, 0))
        return np.ascontiguousarray(np.stack(out))

    def apply(self, img: np.ndarray, seed: int, **params: Any) -> np.ndarray:
        return self.apply_to_images(img[None], seed)[0]


class _python_random:
    """Seed Python's global ``random`` for a block and put the caller's state back afterwards."""

    def __init__(self, seed: int):
        self.seed = seed

    def __enter__(self) -> None:
        self.state = random.getstate()
        random.seed(self.seed)

    def __exit__(self, *exc: object) -> None:
        random.setstate(self.state)


def ntech_train(
    min_size: int,
    crop: tuple[int, int],
    pad: bool = False,
    auto_augment: str | None = "original-mstd0.5",
    auto_augment_p: float = 0.5,
    erasing_p: float = 0.0,
    mean: Sequence[float] = IMAGENET_DEFAULT_MEAN,
    std: Sequence[float] = IMAGENET_DEFAULT_STD,
) -> A.Compose:
    """SmallestMaxSize(min_size) → [PadIfNeeded(crop, reflect-101)] → HFlip → RandomCrop(crop) → AutoAugment →
    Normalize → [RandomErasing]. ``pad`` is the large_crop model (min_size 192 < crop height 224)."""
    height, width = crop
    return A.Compose(
        [
            A.SmallestMaxSize(max_size=min_size, interpolation=cv2.INTER_LINEAR),
            *([A.PadIfNeeded(height, width, border_mode=cv2.BORDER_REFLECT_101)] if pad else []),
            A.HorizontalFlip(p=0.5),
            A.RandomCrop(height, width),
            *([AutoAugment(auto_augment, mean, p=auto_augment_p)] if auto_augment else []),
            A.Normalize(mean=mean, std=std),
            *([PixelErasing(p=erasing_p)] if erasing_p > 0 else []),
        ]
    )


def ntech_eval(
    min_size: int,
    crop: tuple[int, int],
    pad: bool = False,
    mean: Sequence[float] = IMAGENET_DEFAULT_MEAN,
    std: Sequence[float] = IMAGENET_DEFAULT_STD,
) -> A.Compose:
    """SmallestMaxSize(min_size) → [PadIfNeeded] → CenterCrop(crop) → Normalize (NTech's test pipelines)."""
    height, width = crop
    return A.Compose(
        [
            A.SmallestMaxSize(max_size=min_size, interpolation=cv2.INTER_LINEAR),
            *([A.PadIfNeeded(height, width, border_mode=cv2.BORDER_REFLECT_101)] if pad else []),
            A.CenterCrop(height, width),
            A.Normalize(mean=mean, std=std),
        ]
    )
