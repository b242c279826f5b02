"""The image maths of self-blended images: one face blended with a perturbed copy of itself inside a soft mask.

Landmarks are a face detector's five points (eyes, nose, mouth corners: MTCNN, RetinaFace): they are extended to a
face outline (brows, forehead, cheeks, chin) whose convex hull, randomly stretched and jittered, is the mask; its
soft edge comes from a Gaussian blur. With only a face box, the mask is an ellipse inside the box. Outside the mask
the fake is the source pixel for pixel.
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass

import cv2
import numpy as np

# Outline points added around the five landmarks: (along the eye line, along the eyes-to-mouth axis) in units of the
# eye distance and the eyes-to-mouth distance, from the eye centre. Brows and forehead, temples, cheeks, jaw, chin.
OUTLINE = np.array(
    [
        [-0.95, -0.75],
        [-0.45, -1.0],
        [0.0, -1.05],
        [0.45, -1.0],
        [0.95, -0.75],
        [1.1, 0.1],
        [1.0, 0.9],
        [0.6, 1.45],
        [0.0, 1.65],
        [-0.6, 1.45],
        [-1.0, 0.9],
        [-1.1, 0.1],
    ],
    np.float32,
)


@dataclass(frozen=True)
class BlendParams:
    """How one fake is made; :meth:`sample` draws them, ``strength`` scales every perturbation."""

    hue: float = 0.0  # degrees added to the hue
    saturation: float = 1.0  # saturation multiplier
    brightness: float = 1.0  # value multiplier
    contrast: float = 1.0  # multiplier of the deviation from the mean
    sharpness: float = 0.0  # > 0: unsharp-mask amount; < 0: Gaussian blur sigma (as -sharpness, in pixels)
    scale: float = 1.0  # the source copy is scaled about the face centre ...
    shift: tuple[float, float] = (0.0, 0.0)  # ... and shifted by this fraction of the face size (x, y)
    mask_stretch: tuple[float, float] = (1.0, 1.0)  # hull stretched about its centre (x, y)
    mask_jitter: tuple[float, ...] = ()  # per outline point (x, y, x, y, ...): offsets in units of the face size
    edge: float = 0.08  # soft-edge Gaussian sigma as a fraction of the face size
    opacity: float = 1.0  # blend ratio at the mask's centre

    @classmethod
    def sample(cls, rng: np.random.Generator, strength: float = 1.0) -> BlendParams:
        s = float(strength)
        sharp = rng.uniform(0.3, 1.0) * s if rng.random() < 0.5 else -rng.uniform(0.4, 0.9) * s
        return cls(
            hue=float(rng.uniform(-8, 8) * s),
            saturation=float(1 + rng.uniform(-0.15, 0.15) * s),
            brightness=float(1 + rng.choice([-1, 1]) * rng.uniform(0.04, 0.12) * s),
            contrast=float(1 + rng.uniform(-0.12, 0.12) * s),
            sharpness=float(sharp),
            scale=float(1 + rng.uniform(-0.03, 0.03) * s),
            shift=tuple(float(v) for v in rng.uniform(-0.015, 0.015, 2) * s),
            mask_stretch=tuple(float(v) for v in rng.uniform(0.85, 1.1, 2)),
            mask_jitter=tuple(float(v) for v in rng.normal(0, 0.03, 2 * (len(OUTLINE) + 5))),
            edge=float(rng.uniform(0.04, 0.12)),
            opacity=float(rng.choice([0.75, 1.0, 1.0])),
        )

    def to_dict(self) -> dict:
        return asdict(self)


def face_outline(landmarks: np.ndarray, jitter: tuple[float, ...] = ()) -> np.ndarray:
    """The five landmarks plus the :data:`OUTLINE` points, (17, 2) float32, with optional ``jitter``."""
    points = np.asarray(landmarks, np.float32).reshape(5, 2)
    eyes = (points[0] + points[1]) / 2
    mouth = (points[3] + points[4]) / 2
    across = points[1] - points[0]
    down = mouth - eyes
    outline = eyes + OUTLINE[:, :1] * across + OUTLINE[:, 1:] * down
    result = np.concatenate([points, outline])
    if jitter:
        size = _face_size(result)
        result = result + np.asarray(jitter, np.float32).reshape(-1, 2)[: len(result)] * size
    return result


def blend_mask(
    shape: tuple[int, int],
    landmarks: np.ndarray | None = None,
    box: np.ndarray | None = None,
    params: BlendParams | None = None,
) -> np.ndarray:
    """Soft blend mask (H, W) float32 in [0, 1] from five landmarks, or an ellipse inside ``box`` without them."""
    params = params or BlendParams()
    height, width = shape
    hard = np.zeros((height, width), np.uint8)
    if landmarks is not None:
        points = face_outline(landmarks, params.mask_jitter)
        centre = points.mean(axis=0)
        points = centre + (points - centre) * np.asarray(params.mask_stretch, np.float32)
        hull = cv2.convexHull(np.round(points * 16).astype(np.int32))
        cv2.fillConvexPoly(hard, hull, 1, lineType=cv2.LINE_8, shift=4)
        size = _face_size(points)
    elif box is not None:
        x1, y1, x2, y2 = np.asarray(box, np.float64).reshape(4)
        centre = ((x1 + x2) / 2, (y1 + y2) / 2 + 0.03 * (y2 - y1))
        axes = (0.4 * (x2 - x1) * params.mask_stretch[0], 0.45 * (y2 - y1) * params.mask_stretch[1])
        cv2.ellipse(hard, (centre, (2 * axes[0], 2 * axes[1]), 0.0), 1, -1)
        size = float(max(x2 - x1, y2 - y1))
    else:
        raise ValueError("a blend mask needs landmarks or a face box")
    sigma = max(0.5, params.edge * size)
    soft = cv2.GaussianBlur(hard.astype(np.float32), (0, 0), sigma)
    # Rescale so the inside reaches the full opacity, keeping exact zeros outside the blur's reach.
    soft = np.clip(soft * 2, 0, 1) * np.float32(params.opacity)
    return soft.astype(np.float32)


def perturbed_source(frame: np.ndarray, centre: np.ndarray, face_size: float, params: BlendParams) -> np.ndarray:
    """The copy the face is blended with: colour, sharpness and geometry changed; float32 RGB in [0, 255]."""
    image = frame.astype(np.float32) / 255
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = (hsv[..., 0] + params.hue) % 360
    hsv[..., 1] = np.clip(hsv[..., 1] * params.saturation, 0, 1)
    hsv[..., 2] = np.clip(hsv[..., 2] * params.brightness, 0, 1)
    image = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255
    image = (image - image.mean()) * params.contrast + image.mean()
    if params.sharpness > 0:
        image = image + params.sharpness * (image - cv2.GaussianBlur(image, (0, 0), 1.5))
    elif params.sharpness < 0:
        image = cv2.GaussianBlur(image, (0, 0), -params.sharpness)
    if params.scale != 1.0 or any(params.shift):
        matrix = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), 0.0, params.scale)
        matrix[:, 2] += np.asarray(params.shift, np.float64) * face_size
        height, width = frame.shape[:2]
        image = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return np.clip(image, 0, 255)


def self_blend(
    frame: np.ndarray,
    landmarks: np.ndarray | None = None,
    box: np.ndarray | None = None,
    params: BlendParams | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One self-blended fake of an RGB uint8 frame: ``(fake uint8 (H, W, 3), mask float32 (H, W))``.

    ``fake == frame`` exactly wherever ``mask == 0``.
    """
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 frame (H, W, 3), got {frame.dtype} {frame.shape}")
    params = params or BlendParams()
    mask = blend_mask(frame.shape[:2], landmarks, box, params)
    if landmarks is not None:
        points = np.asarray(landmarks, np.float32).reshape(5, 2)
        centre, size = points.mean(axis=0), _face_size(face_outline(points))
    else:
        x1, y1, x2, y2 = np.asarray(box, np.float32).reshape(4)
        centre, size = np.array([(x1 + x2) / 2, (y1 + y2) / 2], np.float32), float(max(x2 - x1, y2 - y1))
    inside = mask > 0
    source = perturbed_source(frame, centre, size, params)
    fake = frame.copy()
    weight = mask[inside][:, None]
    fake[inside] = np.clip(np.round(frame[inside] * (1 - weight) + source[inside] * weight), 0, 255).astype(np.uint8)
    return fake, mask


def video_params(seed: int, name: str, strength: float = 1.0) -> BlendParams:
    """The parameters of one video's fake: a function of the seed and the video's name only (reproducible)."""
    return BlendParams.sample(np.random.default_rng([seed, zlib.crc32(name.encode())]), strength)


def _face_size(points: np.ndarray) -> float:
    span = points.max(axis=0) - points.min(axis=0)
    return float(max(span.max(), 1.0))
