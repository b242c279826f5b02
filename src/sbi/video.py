"""One video's self-blended fake: detect faces, follow one with the project's face tracker, blend every frame.

The face comes from :func:`src.faces.tracking.face_tubes` (RobustForensics' tubes, which bridge frames where the
detector missed it): the tube with the most detections, ties to the larger face. Its detections' boxes and
landmarks are interpolated linearly to every frame between the first and the last detection and held outside, so
the fake stays frame-aligned with the real video (same frames, same face positions): the pixel-aligned real/fake
pairs NTech's mixup trains on. A video gets one set of :class:`BlendParams` (temporally consistent, like a swap).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from src.faces.detectors.base import FaceDetector, VideoDetections
from src.faces.tracking import Track, box_iou, face_tubes
from src.preprocess.detect import detect_video
from src.sbi.blend import BlendParams, self_blend
from src.video.io import VideoWriter, open_video, probe
from src.video.sampling import EveryNth

# A face joins a tube at this IoU with the tube's last box (NTech's sigma_iou): looser than RF's 0.5, because SBI
# detects every few frames of videos that may move fast and one lost face costs the whole fake.
TUBE_IOU = 0.3


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


def follow_face(detections: VideoDetections, num_frames: int) -> FaceTrackPoints:
    """The face to blend in each of ``num_frames`` frames (module docstring); none followed: ``found`` all False."""
    tubes = face_tubes(detections, score_threshold=0.0, iou_threshold=TUBE_IOU)
    if not tubes:
        return FaceTrackPoints(
            np.zeros((num_frames, 4), np.float32),
            np.full((num_frames, 5, 2), np.nan, np.float32),
            np.zeros(num_frames, bool),
        )
    tube = max(tubes, key=lambda t: (t.num_detections, _mean_area(t)))
    known, boxes, points = [], [], []
    for slot in np.flatnonzero(tube.detected):
        found = detections.frames[slot]
        pick = int(np.argmax(box_iou(tube.boxes[slot : slot + 1], found.boxes)[0]))  # the tube's own detection
        known.append(detections.frame_indices[slot])
        boxes.append(found.boxes[pick])
        points.append(found.landmarks[pick] if found.landmarks is not None else np.full((5, 2), np.nan, np.float32))
    frames = np.arange(num_frames, dtype=np.float64)
    knots = np.asarray(known, np.float64)
    box_arr, point_arr = np.asarray(boxes, np.float32), np.asarray(points, np.float32).reshape(len(known), 10)
    interp_boxes = np.stack([np.interp(frames, knots, box_arr[:, k]) for k in range(4)], axis=1)
    interp_points = np.stack([np.interp(frames, knots, point_arr[:, k]) for k in range(10)], axis=1)
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
    info = probe(source)
    detections = detect_video(source, detector, EveryNth(step=every), chunk_size=16, prefetch=False, info=info)
    faces = follow_face(detections, info.num_frames)
    if not faces.found.any():
        raise ValueError(f"{source}: no face in most sampled frames (nothing to blend)")
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


def _mean_area(track: Track) -> float:
    boxes = track.boxes[track.detected]
    return float(np.mean((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])))
