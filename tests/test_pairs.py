"""Real↔fake pairing: NTech's track matching rule, shared (pixel-aligned) and own clip geometry."""

from __future__ import annotations

import math

import numpy as np
import pytest

from src.faces.clips import ClipPlan
from src.faces.pairs import Pairing, clip_iou, shared_ious
from src.faces.tracking import Track


def track(track_id: int, frames, x: float = 0.0, jitter: float = 0.0, detected=None) -> Track:
    frames = np.asarray(frames)
    xs = x + jitter * np.sin(frames)
    boxes = np.stack([xs, np.zeros(len(frames)), xs + 100, np.full(len(frames), 100)], axis=1)
    detected = np.ones(len(frames), bool) if detected is None else np.asarray(detected)
    return Track(track_id, frames, boxes, np.ones(len(frames)), detected)


def plan(track_id: int, start: int, length: int = 10, x: int = 0) -> ClipPlan:
    return ClipPlan(track_id, np.arange(start, start + length), np.tile([x, 0, x + 150, 150], (length, 1)))


def test_match_needs_five_detections_and_min_iou_above_half_on_every_shared_frame():
    rule = Pairing()
    real = [track(0, range(0, 60, 6))]
    assert rule.match(real, [track(7, range(0, 60, 6), x=5)]) == {0: 7}
    assert rule.match(real, [track(7, range(0, 24, 6), x=5)]) == {}  # 4 detections
    far = track(7, range(0, 60, 6), x=5)
    far.boxes[3, [0, 2]] += 60  # one shared frame with IoU < 0.5 vetoes the match
    assert rule.match(real, [far]) == {}
    assert rule.match(real, [track(7, range(100, 160, 6))]) == {}  # no shared frame
    # First acceptable fake track in tracker order wins; filled (undetected) boxes do not count.
    fakes = [far, track(8, range(0, 60, 6), x=10), track(9, range(0, 60, 6))]
    assert rule.match(real, fakes) == {0: 8}
    filled = track(3, range(0, 60, 6), detected=[True] * 4 + [False] * 6)
    assert rule.match([filled], [track(9, range(0, 60, 6))]) == {}


def test_shared_geometry_copies_the_original_clip_and_keeps_unmatched_fake_tracks():
    reals = [track(0, range(0, 120, 6)), track(1, range(0, 120, 6), x=500)]
    fakes = [track(4, range(0, 120, 6), x=3, jitter=2), track(5, range(0, 120, 6), x=900)]
    real_clips = [plan(0, 12, 50), plan(1, 30, 50, x=480)]
    fake_clips = [plan(4, 6, 50), plan(5, 0, 50, x=880)]
    pairs = Pairing("shared").pair(fakes, fake_clips, reals, real_clips, num_frames=300)
    by_name = {p.plan.name: p for p in pairs}
    assert set(by_name) == {"4_12", "5_0"}  # track 4 is cut like real clip 0_12; track 5 keeps its own clip
    aligned = by_name["4_12"]
    assert aligned.pair_clip == "0_12" and aligned.aligned
    assert np.array_equal(aligned.plan.crop_boxes, real_clips[0].crop_boxes)
    assert np.array_equal(aligned.plan.source_frames, real_clips[0].source_frames)
    assert aligned.pair_iou == pytest.approx(np.mean(shared_ious(reals[0], fakes[0], np.arange(12, 62))))
    assert by_name["5_0"].pair_clip is None and math.isnan(by_name["5_0"].pair_iou)
    # A fake shorter than the shared clip gets it cut short, and then it is no longer pixel-aligned.
    short = Pairing("shared").pair(fakes, fake_clips, reals, real_clips, num_frames=40)
    assert {p.plan.name: len(p.plan.source_frames) for p in short if p.pair_clip} == {"4_12": 28}
    assert not any(p.aligned for p in short)


def test_own_geometry_pairs_by_overlap_without_moving_the_fake_clip():
    reals = [track(0, range(0, 300, 6))]
    fakes = [track(2, range(0, 300, 6), x=4)]
    real_clips = [plan(0, 0, 300)]
    fake_clips = [plan(2, 0, 300, x=4)]
    (paired,) = Pairing("own").pair(fakes, fake_clips, reals, real_clips)
    assert paired.pair_clip == "0_0" and not paired.aligned and paired.plan is fake_clips[0]
    (same,) = Pairing("own").pair(fakes, [plan(2, 0, 300)], reals, real_clips)
    assert same.aligned  # identical boxes and frames happen to align
    with pytest.raises(ValueError):
        Pairing("mixed")


def test_clip_iou_falls_back_to_all_shared_frames():
    a, b = track(0, range(0, 60, 6)), track(1, range(0, 60, 6), x=10)
    assert clip_iou(a, b, np.arange(100, 150)) == pytest.approx(90 / 110)
    assert math.isnan(clip_iou(a, track(1, range(100, 130, 6)), np.arange(0, 50)))


def test_pairing_thresholds_min_iou_strict_and_min_detections_inclusive():
    from src.faces.pairs import Pairing
    from src.faces.tracking import Track

    frames = np.arange(0, 30, 6)  # 5 detections: exactly min_detections
    real = Track(0, frames, np.tile([0, 0, 10, 10], (5, 1)), np.ones(5), np.ones(5, bool))
    exactly_half = Track(0, frames, np.tile([0, 0, 5, 10], (5, 1)), np.ones(5), np.ones(5, bool))  # IoU 0.5
    above = Track(1, frames, np.tile([0, 0, 5.1, 10], (5, 1)), np.ones(5), np.ones(5, bool))
    assert Pairing().match([real], [exactly_half]) == {}  # NTech: min IoU > 0.5, strictly
    assert Pairing().match([real], [above]) == {0: 1}  # 5 detections are enough (>= MIN_TRACK_LENGTH)
    assert Pairing(min_detections=6).match([real], [above]) == {}


def _gapless(track_id: int, frames: np.ndarray, box: list[float]) -> Track:
    return Track(track_id, frames, np.tile(box, (len(frames), 1)), np.ones(len(frames)), np.ones(len(frames), bool))


def test_per_pair_windows_lie_in_the_common_range_and_take_either_tracks_box() -> None:
    from src.faces.pairs import pair_windows

    real = _gapless(0, np.arange(0, 96, 6), [10, 10, 50, 50])
    fake = _gapless(3, np.arange(12, 108, 6), [11, 11, 51, 51])
    crops = {0: np.tile([0, 0, 60, 60], (16, 1)), 3: np.tile([2, 2, 62, 62], (16, 1))}
    boxes, starts = set(), set()
    for seed in range(24):
        rng_of = lambda r, f, seed=seed: np.random.default_rng([seed, r, f])  # noqa: E731
        (window,) = pair_windows(Pairing("per_pair"), [real], crops, [fake], crops, 300, 50, 6, rng_of)
        again = pair_windows(Pairing("per_pair"), [real], crops, [fake], crops, 300, 50, 6, rng_of)[0]
        assert window.real.name == again.real.name and window.fake.track_id == 3  # both sides draw the same
        assert np.array_equal(window.real.source_frames, window.fake.source_frames)
        assert np.array_equal(window.real.crop_boxes, window.fake.crop_boxes) and len(window.real.source_frames) == 50
        start = int(window.real.source_frames[0])
        assert 12 <= start <= 90 - 7 * 6  # 8 common detections from the start on: inside the overlap 12..90
        boxes.add(tuple(window.real.crop_boxes[0].tolist()))
        starts.add(start)
    assert boxes == {(0, 0, 60, 60), (2, 2, 62, 62)} and len(starts) > 3  # the real or the fake box, at random


def test_a_fake_of_another_size_pairs_and_aligns_in_the_originals_coordinates() -> None:
    from src.faces.pairs import pair_with_original

    frames = np.arange(0, 60, 6)
    real = _gapless(0, frames, [100, 100, 300, 300])
    fake = _gapless(0, frames, [100 * 832 / 854, 100, 300 * 832 / 854, 300])  # 854x480 stored at 832x480
    original_clip = ClipPlan(0, np.arange(0, 50), np.tile([50, 50, 350, 350], (50, 1)))
    fake_clip = ClipPlan(0, np.arange(0, 50), np.tile([49, 50, 341, 350], (50, 1)))
    crops = {0: np.tile([50, 50, 350, 350], (10, 1))}
    fake_crops = {0: np.tile([49, 50, 341, 350], (10, 1))}
    clips, status = pair_with_original(
        Pairing("shared"), ([fake], fake_crops, [fake_clip]), ([real], crops, [original_clip]),
        (832, 480), (854, 480), 60, windows=None,
    )  # fmt: skip
    (clip,) = clips
    assert clip.aligned and clip.pair_clip == "0_0" and clip.pair_iou > 0.99  # matched in the original's pixels
    assert clip.plan.frame_size == (854, 480) and np.array_equal(clip.plan.crop_boxes, original_clip.crop_boxes)
    assert "across sizes 832x480 -> 854x480" in status
