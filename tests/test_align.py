"""Crop boxes and clip windows: NTech's 1.5x boxes and 50-frame windows, RobustForensics' constant squares."""

from __future__ import annotations

import numpy as np
import pytest

from src.faces.align import crop, scaled_boxes, tube_square_boxes
from src.faces.clips import ClipPlan, clip_rng, ntech_windows, whole_video_clip
from src.faces.tracking import Track


def test_ntech_box_scaled_about_the_centre_truncated_and_clamped():
    boxes = np.array([[100, 100, 200, 180], [10.9, 5.5, 90.2, 85.7], [900, 500, 1000, 600]])
    out = scaled_boxes(boxes, 1.5, width=960, height=540)
    assert out[0].tolist() == [75, 80, 225, 200]
    # centre (50.55, 45.6), half sizes 59.475 and 60.15: -8.9 -> trunc -8 -> clamp 0, 105.7 -> trunc 105
    assert out[1].tolist() == [0, 0, 110, 105]
    assert out[2].tolist() == [875, 475, 960, 540]  # clamped at the right and bottom borders
    assert out.dtype == np.int64


def rf_reference(boxes, width, height, scale=1.3):
    """RobustForensics' get_boundingbox + adjust_boundingbox, written out per frame in plain Python."""
    crops = []
    for x1, y1, x2, y2 in (map(int, b) for b in boxes):
        size = int(max(x2 - x1, y2 - y1) * scale)
        cx, cy = (x1 + x2) // 2, (y1 + y2) // 2
        x, y = max(int(cx - size // 2), 0), max(int(cy - size // 2), 0)
        size = min(height - y, min(width - x, size))
        crops.append((cx, cy, size))
    side = min(max(s for _, _, s in crops) // 2 * 2, height, width)
    out = []
    for cx, cy, _ in crops:
        x = min(max(int(cx - side // 2), 0), width - side)
        y = min(max(int(cy - side // 2), 0), height - side)
        out.append([x, y, x + side, y + side])
    return out


def test_tube_squares_match_robustforensics_per_frame_rules():
    rng = np.random.default_rng(3)
    for _ in range(20):
        width, height = int(rng.integers(200, 1920)), int(rng.integers(200, 1080))
        xy = rng.uniform(-20, [width, height], size=(12, 2))
        wh = rng.uniform(10, 300, size=(12, 2))
        boxes = np.trunc(np.concatenate([xy, xy + wh], axis=1))
        out = tube_square_boxes(boxes, width, height)
        assert out.tolist() == rf_reference(boxes, width, height)
        side = out[0, 2] - out[0, 0]
        assert np.all(out[:, 2] - out[:, 0] == side) and np.all(out[:, 3] - out[:, 1] == side)
        assert out.min() >= 0 and np.all(out[:, 2] <= width) and np.all(out[:, 3] <= height)


def test_tube_square_is_even_and_at_most_the_frame():
    out = tube_square_boxes(np.array([[0, 0, 301, 101], [10, 10, 20, 20]]), width=640, height=360)
    assert out[0].tolist() == [0, 0, 360, 360]  # int(301 * 1.3) = 391 -> capped by the 360-pixel height
    out = tube_square_boxes(np.array([[100, 100, 151, 141]]), width=640, height=360)
    assert (out[0, 2] - out[0, 0]) == 66  # int(51 * 1.3) = 66, already even


def ntech_track(n: int, step: int = 6, first: int = 0) -> Track:
    frames = first + np.arange(n) * step
    boxes = np.stack([frames, np.zeros(n), frames + 100, np.full(n, 100)], axis=1)
    return Track(0, frames, boxes, np.ones(n), np.ones(n, bool))


def test_ntech_random_window_is_fifty_frames_with_the_middle_detection_box():
    track = ntech_track(20)
    crops = scaled_boxes(track.boxes, 1.5, 1920, 1080)
    (plan,) = ntech_windows(track, crops, num_frames=300, detection_step=6, rng=clip_rng(0xDEADFACE, "v.mp4", 0))
    start = int(plan.source_frames[0])
    assert start in track.frames[: 20 - 8 + 1] and plan.source_frames.tolist() == list(range(start, start + 50))
    middle = list(track.frames).index(start) + 4
    assert (plan.crop_boxes == crops[middle]).all() and plan.name == f"0_{start}"
    again = ntech_windows(track, crops, 300, 6, rng=clip_rng(0xDEADFACE, "v.mp4", 0))[0]
    assert np.array_equal(again.source_frames, plan.source_frames)  # seeded per video and track
    starts = {ntech_windows(track, crops, 300, 6, rng=clip_rng(1, f"v{i}", 0))[0].source_frames[0] for i in range(40)}
    assert len(starts) > 5


def test_ntech_windows_short_tracks_all_windows_and_video_end():
    crops = scaled_boxes(ntech_track(7).boxes, 1.5, 1920, 1080)
    assert ntech_windows(ntech_track(7), crops, 300, 6) == []  # fewer than 50 // 6 = 8 detections
    track = ntech_track(50)
    plans = ntech_windows(track, scaled_boxes(track.boxes, 1.5, 1920, 1080), 300, 6, windows="all")
    assert [p.source_frames[0] for p in plans] == [0, 50, 100, 150, 200, 250]
    assert all(len(p.source_frames) == 50 for p in plans)
    assert plans[1].crop_boxes[0, 0] == scaled_boxes(track.boxes[12:13], 1.5, 1920, 1080)[0, 0]  # frame 72 of 74
    track = ntech_track(8, first=264)
    (plan,) = ntech_windows(track, scaled_boxes(track.boxes, 1.5, 1920, 1080), 300, 6)
    assert plan.source_frames.tolist() == list(range(264, 300))  # cut short at the end, like NTech's
    with pytest.raises(ValueError):
        ntech_windows(track, scaled_boxes(track.boxes, 1.5, 1920, 1080), 300, 6, windows="some")


def test_whole_video_clip_uses_the_nearest_sampled_box():
    track = Track(
        1, [0, 4, 8], np.array([[0, 0, 10, 10], [4, 0, 14, 10], [8, 0, 18, 10]]), np.ones(3), np.ones(3, bool)
    )
    boxes = track.boxes.astype(np.int64)
    plan = whole_video_clip(track, boxes, num_frames=11)
    assert plan.source_frames.tolist() == list(range(11))
    assert plan.crop_boxes[:, 0].tolist() == [0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8]  # frame 2 and 6: ties to the earlier
    assert len(whole_video_clip(track, boxes, 11, max_frames=5).source_frames) == 5


def test_clip_plan_checks_and_round_trip():
    plan = ClipPlan(3, [5, 6], [[0, 0, 10, 20], [1, 1, 11, 21]])
    assert plan.size == (20, 10) and ClipPlan.from_dict(plan.to_dict()).name == "3_5"
    with pytest.raises(ValueError):
        ClipPlan(3, [5, 6], [[0, 0, 10, 20], [0, 0, 12, 20]])
    frame = np.arange(30 * 40 * 3, dtype=np.uint8).reshape(30, 40, 3)
    assert crop(frame, np.array([2, 3, 12, 23])).shape == (20, 10, 3)
