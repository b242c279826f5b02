"""RobustForensics' augmentations in albumentations 2.x names (spec robustforensics.md §5.1, §6.2; faithful list 9).

Every builder returns an ``A.Compose`` ending in ``Normalize``; call image pipelines with ``image=`` (H, W, 3) and
clip pipelines with ``images=`` (T, H, W, 3): albumentations then draws the parameters once and applies them to
every frame, which is the seed's per-clip ``randomize_parameters``.

Differences from the seed's albumentations 0.4.5 / PIL code that cannot be removed: ``MotionBlur`` draws its line
kernel by angle and direction instead of two random end points; clip rescaling uses OpenCV (INTER_AREA when
shrinking, bilinear when enlarging) instead of PIL's antialiased bilinear.
"""

from __future__ import annotations

from collections.abc import Sequence

import albumentations as A
import cv2
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

HALF = (0.5, 0.5, 0.5)  # Xception (on BGR input)
KINETICS_MEAN = (110.63666788 / 255, 103.16065604 / 255, 96.29023126 / 255)  # SlowFast, RGB
KINETICS_STD = (38.7568578 / 255, 37.88248729 / 255, 40.02898126 / 255)


def _robustness(brightness_contrast: bool, jpeg: bool, motion_blur: bool) -> list[A.BasicTransform]:
    augs: list[A.BasicTransform] = []
    if brightness_contrast:
        augs.append(A.RandomBrightnessContrast(brightness_limit=0.25, contrast_limit=0.1, p=0.5))
    if jpeg:
        augs.append(A.ImageCompression(quality_range=(50, 100), p=0.2))
    if motion_blur:
        augs.append(A.MotionBlur(blur_limit=(3, 7), p=0.5))
    return augs


def image_train(
    size: int,
    min_scale: float = 0.88,
    mean: Sequence[float] = IMAGENET_DEFAULT_MEAN,
    std: Sequence[float] = IMAGENET_DEFAULT_STD,
) -> A.Compose:
    """RandomResizedCrop(area min_scale²…1, square) → HFlip → BC(0.25, 0.1) → JPEG 50–100 (p 0.2) → MotionBlur 3–7."""
    return A.Compose(
        [
            A.RandomResizedCrop(size=(size, size), scale=(min_scale**2, 1.0), ratio=(1.0, 1.0)),
            A.HorizontalFlip(p=0.5),
            *_robustness(brightness_contrast=True, jpeg=True, motion_blur=True),
            A.Normalize(mean=mean, std=std),
        ]
    )


def image_val(
    size: int, mean: Sequence[float] = IMAGENET_DEFAULT_MEAN, std: Sequence[float] = IMAGENET_DEFAULT_STD
) -> A.Compose:
    return A.Compose([A.Resize(size, size), A.Normalize(mean=mean, std=std)])


def clip_train(
    size: int = 224,
    min_scale: int = 224,
    max_scale: int = 340,
    brightness_contrast: bool = True,
    jpeg: bool = True,
    motion_blur: bool = False,
    mean: Sequence[float] = KINETICS_MEAN,
    std: Sequence[float] = KINETICS_STD,
) -> A.Compose:
    """Scale jitter (shorter side s ~ U{min_scale..max_scale}) → random size² crop → HFlip → optional BC/JPEG/blur."""
    return A.Compose(
        [
            A.SmallestMaxSize(
                max_size=list(range(min_scale, max_scale + 1)),
                interpolation=cv2.INTER_LINEAR,
                area_for_downscale="image",
            ),
            A.RandomCrop(size, size),
            A.HorizontalFlip(p=0.5),
            *_robustness(brightness_contrast, jpeg, motion_blur),
            A.Normalize(mean=mean, std=std),
        ]
    )


def clip_val(size: int = 256, mean: Sequence[float] = KINETICS_MEAN, std: Sequence[float] = KINETICS_STD) -> A.Compose:
    """The seed's ``Scale(size)`` on square tube crops: a size×size resize, no crop."""
    return A.Compose(
        [
            A.Resize(size, size, interpolation=cv2.INTER_LINEAR, area_for_downscale="image"),
            A.Normalize(mean=mean, std=std),
        ]
    )
