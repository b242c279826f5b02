"""Self-blended images (Shiohara & Yamasaki, CVPR 2022): training fakes made from real videos alone.

A face is blended with a perturbed copy of itself inside a mask derived from its landmarks. The copy differs in
colour (hue, saturation, brightness, contrast), frequency content (sharpened or blurred) and geometry (slightly
scaled and shifted about the face centre), so the result shows exactly the traces a face swap leaves — a blending
boundary, a colour and sharpness mismatch, a misaligned inner face — without any second identity or generator.

Landmarks are a face detector's five points (eyes, nose, mouth corners: MTCNN, RetinaFace): they are extended to a
face outline (brows, forehead, cheeks, chin) whose convex hull, randomly stretched and jittered, is the mask; its
soft edge comes from a Gaussian blur. With only a face box, the mask is an ellipse inside the box. Outside the mask
the fake is the source pixel for pixel.

A video gets one set of :class:`BlendParams` (temporally consistent, like a face swap) and per-frame landmarks
(interpolated between detected frames), so its fake stays frame-aligned with the real video (same frames, same face
positions): the pixel-aligned real/fake pairs NTech's mixup trains on.

python -m src.sbi real.mp4 fake.mp4 [--strength 1.0] [--seed 0] [--detect-every 2]
python -m src.sbi REAL_DIR OUT_DIR [--labels labels.csv]   (a folder: a dataset for ``data=folder``)
"""

from __future__ import annotations

import argparse
import csv
import sys
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from src.faces.detectors.base import FaceDetector, FrameDetections
from src.utils.config import one_line

REPO_ROOT = Path(__file__).resolve().parents[1]
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


@dataclass
class FaceTrackPoints:
    """The blended face of every frame of a video: box (N, 4), landmarks (N, 5, 2) (NaN where unknown), found (N,)."""

    boxes: np.ndarray
    landmarks: np.ndarray
    found: np.ndarray

    def frame(self, index: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(landmarks or None, box or None) of one frame."""
        if not self.found[index]:
            return None, None
        points = self.landmarks[index]
        return (None if np.isnan(points).any() else points), self.boxes[index]


def largest_face(detections: FrameDetections, previous: np.ndarray | None = None) -> int | None:
    """Which face to blend: the one overlapping the previous frame's most, else the largest."""
    if not len(detections):
        return None
    boxes = detections.boxes
    if previous is not None:
        x1 = np.maximum(boxes[:, 0], previous[0])
        y1 = np.maximum(boxes[:, 1], previous[1])
        x2 = np.minimum(boxes[:, 2], previous[2])
        y2 = np.minimum(boxes[:, 3], previous[3])
        overlap = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
        if overlap.max() > 0:
            return int(np.argmax(overlap))
    return int(np.argmax((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])))


def track_face(frame_indices: np.ndarray, detections: list[FrameDetections], num_frames: int) -> FaceTrackPoints:
    """One face per frame from detections on some frames: followed by overlap, linearly interpolated between
    detected frames and held constant before the first and after the last detection."""
    frame_indices = np.asarray(frame_indices, np.int64)
    known, boxes, points = [], [], []
    previous = None
    for index, found in zip(frame_indices.tolist(), detections, strict=True):
        pick = largest_face(found, previous)
        if pick is None:
            continue
        previous = found.boxes[pick]
        known.append(index)
        boxes.append(found.boxes[pick])
        lm = found.landmarks[pick] if found.landmarks is not None else np.full((5, 2), np.nan, np.float32)
        points.append(lm)
    if not known:
        return FaceTrackPoints(
            np.zeros((num_frames, 4), np.float32),
            np.full((num_frames, 5, 2), np.nan, np.float32),
            np.zeros(num_frames, bool),
        )
    known_arr = np.asarray(known, np.float64)
    frames = np.arange(num_frames, dtype=np.float64)
    box_arr, lm_arr = np.asarray(boxes, np.float32), np.asarray(points, np.float32).reshape(len(known), 10)
    interp_boxes = np.stack([np.interp(frames, known_arr, box_arr[:, k]) for k in range(4)], axis=1)
    interp_points = np.stack([np.interp(frames, known_arr, lm_arr[:, k]) for k in range(10)], axis=1)
    return FaceTrackPoints(
        interp_boxes.astype(np.float32),
        interp_points.reshape(num_frames, 5, 2).astype(np.float32),
        np.ones(num_frames, bool),
    )


def blend_frames(frames: np.ndarray, faces: FaceTrackPoints, params: BlendParams, offset: int = 0) -> np.ndarray:
    """Self-blend every frame of (N, H, W, 3) whose face is known (frame ``i`` is video frame ``offset + i``)."""
    out = np.array(frames, copy=True)
    for i in range(len(frames)):
        landmarks, box = faces.frame(offset + i)
        if box is not None:
            out[i] = self_blend(frames[i], landmarks, box, params)[0]
    return out


def video_params(seed: int, name: str, strength: float = 1.0) -> BlendParams:
    """The parameters of one video's fake: a function of the seed and the video's name only (reproducible)."""
    return BlendParams.sample(np.random.default_rng([seed, zlib.crc32(name.encode())]), strength)


def detect_faces(path: Path, detector: FaceDetector, every: int = 2, batch: int = 16) -> FaceTrackPoints:
    """Detect every ``every``-th frame of a video and follow one face through all its frames."""
    from src.video.io import open_video, probe

    info = probe(path)
    indices, found = [], []
    with open_video(path, "pyav", info) as reader:
        for chunk, frames in reader.iter_chunks(batch, range(0, info.num_frames, every)):
            indices += chunk.tolist()
            found += detector(frames)
    return track_face(np.asarray(indices), found, info.num_frames)


def fake_video(
    source: Path,
    target: Path,
    detector: FaceDetector,
    params: BlendParams,
    every: int = 2,
    crf: int = 18,
    progress: bool = True,
) -> FaceTrackPoints:
    """Write the self-blended fake of the video ``source`` to ``target`` (same frames and fps, H.264)."""
    from tqdm import tqdm

    from src.video.io import VideoWriter, open_video, probe

    faces = detect_faces(source, detector, every)
    if not faces.found.any():
        raise ValueError(f"{source}: no face found in any sampled frame (nothing to blend)")
    info = probe(source)
    pix_fmt = "yuv420p" if info.width % 2 == 0 and info.height % 2 == 0 else "yuv444p"
    with (
        open_video(source, "pyav", info) as reader,
        VideoWriter(target, info.fps, crf=crf, pix_fmt=pix_fmt) as writer,
        tqdm(total=info.num_frames, desc=f"sbi {Path(source).name}", unit="frame", disable=not progress) as bar,
    ):
        for chunk, frames in reader.iter_chunks(32):
            writer.write(blend_frames(frames, faces, params, int(chunk[0])))
            bar.update(len(chunk))
    return faces


def default_detector(device: str = "cpu", **overrides) -> FaceDetector:
    """The project's default detector as ``conf/detector/mtcnn.yaml`` configures it (plus ``overrides``)."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(REPO_ROOT / "conf" / "detector" / "mtcnn.yaml")
    return instantiate(OmegaConf.merge(cfg, {"device": device, **overrides}))


def _face_size(points: np.ndarray) -> float:
    span = points.max(axis=0) - points.min(axis=0)
    return float(max(span.max(), 1.0))


def fake_folder(
    source: Path,
    target: Path,
    detector: FaceDetector,
    strength: float = 1.0,
    seed: int = 0,
    every: int = 2,
    crf: int = 18,
    labels: Path | None = None,
    progress: bool = True,
) -> tuple[list[str], dict[str, str]]:
    """Self-blended fakes of every real video under ``source``, as a dataset folder ``target`` for ``data=folder``.

    ``target/real/<path>`` links to each real video, ``target/fake/<path>`` is its fake (``.mp4``) and
    ``target/labels.csv`` (``filename,label,original``) pairs them. With ``labels`` (a CSV of ``source``), only the
    videos labelled REAL are used. Resumable: existing fakes are kept; a video that fails (unreadable, no face) gets one
    line and the others go on. Returns (videos done, {video: reason} for the failures).
    """
    from tqdm import tqdm

    from src.utils.io import atomic_open
    from src.video.sources import LABELS, VIDEO_SUFFIXES, read_labels_csv

    if not source.is_dir():
        raise FileNotFoundError(f"{source}: not a folder of videos")
    videos = sorted(p.relative_to(source) for p in source.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
    videos = [
        v for v in videos if (source / v).is_file() and not (source / v).resolve().is_relative_to(target.resolve())
    ]
    if labels is not None:
        rows = read_labels_csv(labels)
        videos = [v for v in videos if LABELS.get(rows.get(v.as_posix(), {}).get("label", "").strip().upper()) == 0]
    if not videos:
        raise FileNotFoundError(f"{source}: no {'REAL-labelled ' if labels else ''}videos found")
    done, failed = [], {}
    for video in tqdm(videos, desc="self-blending", unit="video", disable=not progress):
        real, fake = target / "real" / video, (target / "fake" / video).with_suffix(".mp4")
        try:
            if not fake.is_file():
                fake_video(
                    source / video, fake, detector, video_params(seed, video.name, strength), every, crf, progress=False
                )
            real.parent.mkdir(parents=True, exist_ok=True)
            if not real.exists():
                real.symlink_to((source / video).resolve())
        except (OSError, ValueError, RuntimeError) as exc:
            failed[video.as_posix()] = one_line(exc)
            tqdm.write(f"sbi: {source / video}: {failed[video.as_posix()]}", file=sys.stderr)  # above the bar
            continue
        done.append(video.as_posix())
    with atomic_open(target / "labels.csv", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["filename", "label", "original"])
        for video in done:
            writer.writerow([f"real/{video}", "REAL", ""])
            writer.writerow([Path(f"fake/{video}").with_suffix(".mp4").as_posix(), "FAKE", f"real/{video}"])
    return done, failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m src.sbi", description=__doc__.split("\n\n")[0], epilog="Writes outputs atomically."
    )
    parser.add_argument("source", type=Path, metavar="IN", help="a real video, or a folder of them")
    parser.add_argument("target", type=Path, metavar="OUT", help="its fake (.mp4), or the dataset folder to write")
    parser.add_argument("--strength", type=float, default=1.0, help="scale of every perturbation (demo: 2)")
    parser.add_argument("--seed", type=int, default=0, help="with the file name, fixes the blend parameters")
    parser.add_argument("--detect-every", type=int, default=2, help="detect faces on every n-th frame")
    parser.add_argument("--crf", type=int, default=18, help="H.264 quality of the fake (lower is better)")
    parser.add_argument("--device", default="cpu", help="detector device: cpu, cuda, auto")
    parser.add_argument("--labels", type=Path, help="folder mode: a labels CSV; only its REAL videos are used")
    args = parser.parse_args(argv)
    if args.source.is_dir():
        try:
            done, failed = fake_folder(
                args.source,
                args.target,
                default_detector(args.device),
                args.strength,
                args.seed,
                args.detect_every,
                args.crf,
                args.labels,
            )
        except (OSError, ValueError) as exc:
            print(f"sbi: {one_line(exc)}", file=sys.stderr)
            return 2
        print(
            f"wrote {args.target}: {len(done)} real/fake pairs, {len(failed)} failed (listed above); "
            f"labels {args.target / 'labels.csv'}"
        )
        print(f"next: python preprocess.py data=folder data.root={args.target} data.labels=labels.csv")
        return 1 if failed else 0
    if not args.source.is_file():
        print(f"sbi: {args.source}: no such video", file=sys.stderr)
        return 2
    params = video_params(args.seed, args.source.name, args.strength)
    try:
        faces = fake_video(args.source, args.target, default_detector(args.device), params, args.detect_every, args.crf)
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"sbi: {one_line(exc)}", file=sys.stderr)
        return 1
    print(f"wrote {args.target}: {int(faces.found.sum())} frames blended; parameters {params.to_dict()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
