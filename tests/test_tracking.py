"""Tracking on hand-made detections: crossings, gaps, a face entering late, two faces, frames without faces."""

from __future__ import annotations

import numpy as np
import pytest

from src.faces.detectors.base import FrameDetections, VideoDetections
from src.faces.tracking import box_iou, face_tubes, interpolate_track, iou_tracks, nearest_in_time, vote_num_faces


def video(*frames: list[tuple[list[float], float]], step: int = 1) -> VideoDetections:
    """Detections from per-frame lists of (box, score); sampled frames 0, step, 2*step, ..."""
    per_frame = [
        FrameDetections([b for b, _ in faces], [s for _, s in faces]) if faces else FrameDetections.empty()
        for faces in frames
    ]
    return VideoDetections(np.arange(len(frames)) * step, per_frame)


def box(x: float, y: float, size: float = 100) -> list[float]:
    return [x, y, x + size, y + size]


def test_box_iou_plain_and_pixel_inclusive():
    a, b = np.array([[0, 0, 10, 10]]), np.array([[5, 0, 15, 10]])
    assert box_iou(a, b)[0, 0] == pytest.approx(50 / 150)
    # RobustForensics counts pixels inclusively: widths 11, intersection 6 x 11.
    assert box_iou(a, b, pixel_inclusive=True)[0, 0] == pytest.approx(66 / (121 + 121 - 66))
    assert box_iou(a, np.zeros((0, 4))).shape == (1, 0)
    assert box_iou(np.array([[3, 3, 3, 3]]), np.array([[3, 3, 3, 3]]))[0, 0] == 0  # degenerate: 0, not NaN


# --- NTechLab: Bochinski IoU tracker -------------------------------------------------------------------------------


def test_ntech_one_face_is_one_track_at_the_detection_frames():
    dets = video(*[[(box(10 * t, 50), 0.99)] for t in range(10)], step=6)
    (track,) = iou_tracks(dets)
    assert track.frames.tolist() == list(range(0, 60, 6))
    np.testing.assert_allclose(track.boxes[3], box(30, 50))
    assert track.detected.all() and track.num_detections == 10


def test_ntech_a_missed_frame_ends_the_track():
    frames = [[(box(5 * t, 0), 0.95)] for t in range(10)]
    frames[4] = []  # no gap tolerance
    frames[7] = [(box(35, 0), 0.2)]  # below sigma_l = 0.3: ignored, also a gap
    tracks = iou_tracks(video(*frames))
    assert [t.frames.tolist() for t in tracks] == [[0, 1, 2, 3], [5, 6], [8, 9]]


def test_ntech_sigma_h_and_t_min():
    frames = [[(box(0, 0), 0.95), (box(500, 0), 0.5)] for _ in range(5)] + [[(box(0, 0), 0.95)]] * 3
    tracks = iou_tracks(video(*frames))
    assert len(tracks) == 1 and len(tracks[0]) == 8  # the second face never reaches sigma_h = 0.9
    assert iou_tracks(video(*frames), t_min=9) == []
    assert len(iou_tracks(video(*frames), sigma_h=0.4)) == 2


def test_ntech_late_face_two_faces_and_empty_frames():
    frames = [[] for _ in range(3)]
    frames += [[(box(0, 0), 0.99)] + ([(box(400, 0), 0.99)] if t >= 4 else []) for t in range(3, 10)]
    frames += [[], []]
    tracks = iou_tracks(video(*frames))
    # Tracks are listed in the order they end; both end at frame 10, the older first.
    assert [(t.frames[0], t.frames[-1]) for t in tracks] == [(3, 9), (4, 9)]
    np.testing.assert_allclose(tracks[1].boxes[:, 0], 400)


def test_ntech_crossing_faces_keep_their_identity():
    # Two faces pass each other horizontally at different heights: each track keeps its own row.
    frames = [[(box(20 * t, 0), 0.99), (box(200 - 20 * t, 60), 0.98)] for t in range(11)]
    tracks = iou_tracks(video(*frames))
    assert len(tracks) == 2
    rows = sorted(set(t.boxes[:, 1].tolist()) for t in tracks)
    assert rows == [{0.0}, {60.0}]


def test_ntech_interpolation_between_detections():
    dets = video([(box(0, 0), 0.99)], [(box(12, 6), 0.99)], [(box(24, 0), 0.99)], step=6)
    (track,) = iou_tracks(dets)
    dense = interpolate_track(track, np.arange(0, 300, 2))
    assert dense.frames.tolist() == [0, 2, 4, 6, 8, 10, 12]
    np.testing.assert_allclose(dense.boxes[1], box(4, 2))
    assert dense.detected.tolist() == [True, False, False, True, False, False, True]
    assert dense.scores[1] == 0 and dense.scores[3] == pytest.approx(0.99)


# --- RobustForensics: face tubes -----------------------------------------------------------------------------------


def test_vote_is_the_mode_with_ties_to_the_first_seen():
    assert vote_num_faces([1, 1, 2, 1, 0]) == 1
    assert vote_num_faces([2, 1, 1, 2]) == 2
    assert vote_num_faces([0, 0, 1]) == 0
    assert vote_num_faces([]) == 0


def test_nearest_in_time_prefers_the_earlier_on_ties():
    assert nearest_in_time(np.array([0, 2, 5]), np.arange(7)).tolist() == [0, 0, 1, 1, 2, 2, 2]


def test_tubes_fill_gaps_with_the_nearest_detection():
    frames = [[(box(0, 0), 0.9)], [], [(box(4, 0), 0.9)], [], [], [(box(10, 0), 0.9)]]
    (tube,) = face_tubes(video(*frames, step=2))
    assert tube.frames.tolist() == [0, 2, 4, 6, 8, 10]
    np.testing.assert_allclose(tube.boxes[:, 0], [0, 0, 4, 4, 10, 10])
    assert tube.detected.tolist() == [True, False, True, False, False, True]
    assert tube.scores.tolist() == pytest.approx([0.9, 0, 0.9, 0, 0, 0.9])


def test_tubes_vote_drops_sporadic_faces_and_low_scores():
    frames = [[(box(0, 0), 0.95)]] * 6 + [[(box(0, 0), 0.95), (box(500, 500), 0.99)]] * 2
    frames += [[(box(0, 0), 0.95), (box(900, 0), 0.7)]] * 4  # below 0.8: not counted, not tracked
    tubes = face_tubes(video(*frames))
    assert len(tubes) == 1 and tubes[0].num_detections == 12
    assert face_tubes(video([], [], [(box(0, 0), 0.99)])) == []  # the mode is 0 faces


def test_tubes_two_faces_one_entering_late_longest_first():
    frames = [[(box(0, 0), 0.9)] + ([(box(300, 0), 0.9)] if t >= 3 else []) for t in range(10)]
    frames[5] = []  # a frame without faces is skipped
    tubes = face_tubes(video(*frames))
    assert [t.num_detections for t in tubes] == [9, 6]
    np.testing.assert_allclose(tubes[1].boxes[:, 0], 300)  # filled back to frames 0-2 with its first box
    assert tubes[1].detected[:3].tolist() == [False] * 3


def test_tubes_crossing_one_face_per_tube_and_max_faces():
    frames = [[(box(20 * t, 0), 0.99), (box(200 - 20 * t, 60), 0.98)] for t in range(11)]
    tubes = face_tubes(video(*frames))
    assert sorted(set(t.boxes[:, 1].tolist()) for t in tubes) == [{0.0}, {60.0}]
    # A duplicate of a face whose tube is already claimed in this frame is dropped; it does not start a tube
    # (which, 3 detections long, would then outrank the 2-detection third face).
    a, duplicate, c, d = box(0, 0), box(2, 2), box(300, 0), box(600, 0)
    frames = [[(a, 0.99), (c, 0.99), (d, 0.99)]] * 2 + [[(a, 0.99), (duplicate, 0.9), (c, 0.99)]] * 3
    tubes = face_tubes(video(*frames))
    assert [t.num_detections for t in tubes] == [5, 5, 2]
    assert tubes[0].boxes[:, 0].tolist() == [0] * 5 and tubes[2].boxes[0, 0] == 600
    frames = [[(box(0, 0), 0.99), (box(300, 0), 0.99), (box(600, 0), 0.99)] for _ in range(3)]
    assert len(face_tubes(video(*frames))) == 3
    assert len(face_tubes(video(*frames), max_faces=2)) == 2


def test_tubes_truncate_boxes_to_integer_pixels():
    (tube,) = face_tubes(video([([10.7, 20.2, 110.9, 120.5], 0.9)]))
    assert tube.boxes[0].tolist() == [10, 20, 110, 120]


# --- Threshold boundaries: each seed keeps a value equal to its threshold ------------------------------------------
# Scores are float32 (as the seeds' were), so the boundaries are tested at thresholds float32 holds exactly; the IoU
# boundaries at the seeds' own values, with boxes whose IoU is exactly that in float64.


def test_ntech_sigma_l_keeps_a_detection_scored_exactly_at_it():
    dets = video([(box(0, 0), 0.99)], [(box(0, 0), 0.5)], [(box(0, 0), 0.99)])
    (track,) = iou_tracks(dets, sigma_l=0.5)
    assert len(track) == 3  # score >= sigma_l: the middle detection extends the track
    assert len(iou_tracks(dets, sigma_l=0.5 + 1e-6)) == 2  # just above it: the track breaks in two


def test_ntech_sigma_h_keeps_a_track_whose_best_score_is_exactly_it():
    dets = video([(box(0, 0), 0.75)], [(box(0, 0), 0.5)])
    assert len(iou_tracks(dets, sigma_l=0.3, sigma_h=0.75)) == 1
    assert iou_tracks(dets, sigma_l=0.3, sigma_h=0.75 + 1e-6) == []


def test_ntech_sigma_iou_extends_a_track_at_exactly_0_3():
    inside = [0.0, 0.0, 3.0, 10.0]  # inside [0, 0, 10, 10]: IoU 30 / 100 = 0.3
    assert box_iou(np.array([[0, 0, 10, 10]]), np.array([inside]))[0, 0] == 0.3
    (track,) = iou_tracks(video([([0, 0, 10, 10], 0.99)], [(inside, 0.99)]), sigma_iou=0.3)
    assert len(track) == 2
    narrower = [0.0, 0.0, 2.9, 10.0]  # IoU 0.29: a new track
    assert len(iou_tracks(video([([0, 0, 10, 10], 0.99)], [(narrower, 0.99)]), sigma_iou=0.3)) == 2


def test_tubes_score_threshold_keeps_a_face_scored_exactly_at_it():
    dets = video([(box(0, 0), 0.75)], [(box(0, 0), 0.75)])
    (tube,) = face_tubes(dets, score_threshold=0.75)
    assert tube.detected.all()
    assert face_tubes(dets, score_threshold=0.75 + 1e-6) == []


def test_tubes_iou_threshold_joins_a_face_at_exactly_0_5():
    half = [0, 0, 4, 9]  # pixel-inclusive 5 x 10 inside [0, 0, 9, 9] (10 x 10): IoU 0.5
    assert box_iou(np.array([[0, 0, 9, 9]]), np.array([half]), pixel_inclusive=True)[0, 0] == 0.5
    (tube,) = face_tubes(video([([0, 0, 9, 9], 0.99)], [(half, 0.99)]), iou_threshold=0.5)
    assert tube.detected.all()  # joined: one tube with both detections
    (tube,) = face_tubes(video([([0, 0, 9, 9], 0.99)], [([0, 0, 3, 9], 0.99)]), iou_threshold=0.5)  # IoU 0.4
    assert tube.detected.tolist() == [True, False]  # a second tube; the first (ties keep order) is filled


def test_a_tube_shows_the_nearest_detected_image_where_it_was_filled_ntech_its_own():
    from src.faces.tracking.trackers import NtechTracker, TubeTracker

    dets = video([(box(0, 0), 0.99)], [], [], [(box(0, 0), 0.99)], step=2)
    (tube,) = face_tubes(dets)
    assert tube.frames.tolist() == [0, 2, 4, 6] and TubeTracker().image_frames(tube).tolist() == [0, 0, 6, 6]
    assert NtechTracker().image_frames(tube).tolist() == [0, 2, 4, 6]  # NTech cut interpolated frames themselves
