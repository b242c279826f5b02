"""Aggregation rules against values worked out by hand from the specs (ntechlab_detail.md §5,
robustforensics.md §8, peers.md). Expected numbers are written out, with the arithmetic in the comments."""

from __future__ import annotations

import numpy as np
import pytest

from src.inference.aggregation import (
    MemberOutput,
    confident_mean,
    cross_face_score,
    finalize,
    is_scale,
    logit_group_probabilities,
    ntech_rule,
    ntech_transform,
    ntech_weighted_mean,
    ntech_weights,
    robustforensics_member_score,
    robustforensics_rule,
    selim_confident_strategy,
    selim_rule,
)


def logit(p) -> np.ndarray:
    p = np.asarray(p, np.float64)
    return np.log(p / (1 - p))


def member(name, *track_probs, weight=1.0, group="all", error=None) -> MemberOutput:
    return MemberOutput(name, tuple(logit(t) for t in track_probs), weight=weight, group=group, error=error)


# --- NTechLab ---------------------------------------------------------------------------------------------------------


def test_ntech_transform_sharpens_and_clips():
    # d = 0.1: 0.1^0.65 = 10^-0.65 = 0.2238721; d = 0.05: exp(0.65·ln 0.05) = exp(-1.9472) = 0.1426693
    out = ntech_transform([0.6, 0.4, 0.55, 0.5, 0.9, 0.1, 0.16, 0.84])
    np.testing.assert_allclose(out[:4], [0.7238721, 0.2761279, 0.6426693, 0.5], atol=1e-6)
    # 0.4^0.65 = 0.5512 > 0.49: clipped; p = 0.16 → 0.5 - 0.34^0.65 = 0.5 - 0.4961 = 0.0039 → 0.01
    np.testing.assert_allclose(out[4:], [0.99, 0.01, 0.01, 0.99])


def test_ntech_weights_use_raw_distance():
    np.testing.assert_allclose(ntech_weights([0.6, 0.5, 0.1]), [0.1001, 0.0001, 0.4001])


def test_ntech_weighted_mean_by_hand():
    # p' = [0.7238721, 0.2761279, 0.99], w = [0.1001, 0.1001, 0.4001]
    # (0.1001·(0.7238721 + 0.2761279) + 0.4001·0.99) / 0.6003 = 0.496199 / 0.6003 = 0.8265850
    assert ntech_weighted_mean([0.6, 0.4, 0.9]) == pytest.approx(0.8265850, abs=1e-6)
    assert ntech_weighted_mean([]) is None


def test_ntech_rule_pools_tracks_and_members_equally():
    seq = member("seq", [0.6, 0.4], [0.9])  # two tracks
    frames = member("frame", [0.9, 0.9])
    # pool [0.6, 0.4, 0.9, 0.9, 0.9]: (0.1001 + 3·0.4001·0.99) / (0.2002 + 3·0.4001) = 1.288397 / 1.4005 = 0.9199550
    assert ntech_rule([seq, frames]) == pytest.approx(0.9199550, abs=1e-6)


def test_ntech_rule_one_member_failing_is_left_out():
    seq = member("seq", [0.6, 0.4, 0.9])
    broken = member("frame", error="CUDA out of memory")
    empty = member("re")  # no tracks reached this member
    assert ntech_rule([seq, broken, empty]) == pytest.approx(0.8265850, abs=1e-6)
    assert ntech_rule([broken, empty]) is None


def test_ntech_rule_member_weights():
    a = member("a", [0.9], weight=3.0)
    b = member("b", [0.1, 0.1], weight=1.0)
    # seed: all equal weight 0.4001 → (0.99 + 2·0.01) / 3 = 0.3366667
    assert ntech_rule([a, b]) == pytest.approx(1.01 / 3, abs=1e-9)
    # weights as priors: (3·0.99 + 2·0.01) / 5 = 0.598
    assert ntech_rule([a, b], member_weights=True) == pytest.approx(0.598, abs=1e-9)
    # balanced: a counts 3/1, b counts 1/2 per prediction → (3·0.99 + 0.5·0.01·2) / (3 + 1) = 0.745
    assert ntech_rule([a, b], member_weights=True, balance_members=True) == pytest.approx(0.745, abs=1e-9)


# --- RobustForensics --------------------------------------------------------------------------------------------------


def test_logit_groups_average_logits_not_probabilities():
    logits = [0, 0, 0, 0, 0, 1, 2, 3, 2, 2, 9]  # group 2 mean logit 2 → sigmoid(2) = 0.8807971; the 11th is dropped
    np.testing.assert_allclose(logit_group_probabilities(logits), [0.5, 0.8807971], atol=1e-7)
    # shorter than a group (a SlowFast track: one clip score): one group of what there is
    np.testing.assert_allclose(logit_group_probabilities([logit(0.7)]), [0.7])


def test_face_rule_confident_and_mixed():
    # 5 of 6 groups > 0.85 (83 % > 70 %): mean of those = 4.58 / 5
    assert confident_mean([0.9, 0.95, 0.88, 0.99, 0.5, 0.86], 0.85, 0.15) == pytest.approx(0.916)
    # 4 of 5 < 0.15: (0.1 + 0.05 + 0.12 + 0.14) / 4
    assert confident_mean([0.1, 0.05, 0.12, 0.14, 0.3], 0.85, 0.15) == pytest.approx(0.1025)
    # mixed: plain mean 3.4 / 6
    assert confident_mean([0.9, 0.9, 0.9, 0.1, 0.1, 0.5], 0.85, 0.15) == pytest.approx(3.4 / 6)
    # exactly 70 % confident is not "more than 70 %": mean of all = (7·0.9 + 3·0.5) / 10
    assert confident_mean([0.9] * 7 + [0.5] * 3, 0.85, 0.15) == pytest.approx(0.78)


def test_cross_face_rule():
    assert cross_face_score([0.95, 0.2]) == 0.95  # one face > 0.9 → max
    assert cross_face_score([0.7, 0.65]) == 0.7  # all > 0.6 → max
    assert cross_face_score([0.3, 0.1]) == 0.1  # all < 0.4 → min
    assert cross_face_score([0.7, 0.3]) == pytest.approx(0.5)  # else mean
    assert cross_face_score([0.5]) == 0.5


def test_is_scale_shrinks_only_extremes():
    assert is_scale(1.0) == pytest.approx(0.98)
    assert is_scale(0.99) == pytest.approx(0.9704)  # 0.49·0.96 + 0.5
    assert is_scale(0.98) == pytest.approx(0.9608)  # boundary included: 0.48·0.96 + 0.5
    assert is_scale(0.97) == 0.97  # the seed's discontinuity at 0.98
    assert is_scale(0.0) == pytest.approx(0.02)
    assert is_scale(0.5) == 0.5


def test_member_score_two_faces_with_isscale():
    face_a = [0.95] * 30  # 6 groups of 0.95 → 0.95
    face_b = [0.3] * 12  # 2 groups (2 samples dropped) → 0.3
    out = member("xcp", face_a, face_b)
    assert robustforensics_member_score(out) == pytest.approx(0.95)  # max > 0.9
    single = member("b3", [0.99] * 30)
    assert robustforensics_member_score(single, shrink=True) == pytest.approx(0.9704)
    assert robustforensics_member_score(member("r34", error="boom")) is None


def sf(name, p, w):
    return member(name, [p], weight=w, group="video")


def img(name, *faces, w):
    return member(name, *faces, weight=w, group="image")


def test_rf_group_rule_confident_weighted_mean():
    outputs = [sf("sf1", 0.9, 10), sf("sf2", 0.85, 8), sf("sf3", 0.95, 4), sf("sf4", 0.3, 8)]
    # 3 of 4 > 0.8 (75 %): weighted mean of those (10·0.9 + 8·0.85 + 4·0.95) / 22 = 19.6 / 22
    assert robustforensics_rule(outputs) == pytest.approx(19.6 / 22)


def test_rf_rule_full_mixed_case_with_failures():
    video = [
        sf("sf1", 0.9, 10),
        sf("sf2", 0.6, 8),
        member("sf3", weight=4, group="video", error="oom"),
        sf("sf4", 0.7, 8),
    ]
    image = [
        img("xcp", [0.95] * 30, [0.3] * 30, w=10),  # two faces: max 0.95
        img("b3", [0.99] * 30, w=6),  # isScale: 0.49·0.96 + 0.5 = 0.9704
        img("b1", [0.5] * 30, w=10),
    ]
    # video: 1 of 3 confident → (10·0.9 + 8·0.6 + 8·0.7) / 26 = 19.4 / 26 = 0.7461538
    # image: 2 of 3 > 0.8 is 66.7 %, not > 70 % → (10·0.95 + 6·0.9704 + 10·0.5) / 26 = 20.3224 / 26 = 0.7816308
    # final 0.4·0.7461538 + 0.6·0.7816308 = 0.7674400
    rule = {"is_scale_members": ["b3", "r34"]}
    assert robustforensics_rule(video + image, **rule) == pytest.approx(0.7674400, abs=1e-6)
    # every image model failing: the video group alone
    broken = [member(m.name, weight=m.weight, group="image", error="decode") for m in image]
    assert robustforensics_rule(video + broken, **rule) == pytest.approx(19.4 / 26)
    # nothing left: no score, the fallback decides
    assert robustforensics_rule([member("sf1", group="video", error="x")], **rule) is None


def test_rf_rule_rejects_unknown_groups():
    with pytest.raises(ValueError, match="group_weights"):
        robustforensics_rule([member("m", [0.5], group="audio")])


# --- Selim Seferbekov -------------------------------------------------------------------------------------------------


def test_selim_confident_strategy():
    # 13 of 32 > 0.8: 13 > 32 // 2.5 = 12 and 13 > 11 → mean of the fakes
    assert selim_confident_strategy([0.9] * 13 + [0.5] * 19) == pytest.approx(0.9)
    # 12 of 32 is not > 12 → mean of all = (12·0.9 + 20·0.5) / 32 = 0.65
    assert selim_confident_strategy([0.9] * 12 + [0.5] * 20) == pytest.approx(0.65)
    # 9 of 10 fakes but not > 11; 1 real is not > 9 → mean (8.55 + 0.05) / 10
    assert selim_confident_strategy([0.95] * 9 + [0.05]) == pytest.approx(0.86)
    # 19 of 20 < 0.2 (> 18) → mean of those
    assert selim_confident_strategy([0.1] * 19 + [0.9]) == pytest.approx(0.1)


def test_selim_rule_weights_members_and_skips_failures():
    a = member("a", [0.9] * 13, [0.5] * 19, weight=1)  # faces pooled: 0.9
    b = member("b", [0.5] * 10, weight=3)
    c = member("c", error="missing weights")
    assert selim_rule([a, b, c]) == pytest.approx((0.9 + 3 * 0.5) / 4)
    assert selim_rule([c]) is None


# --- final value ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "clip", "expected"),
    [(None, None, 0.5), (float("nan"), None, 0.5), (1.2, None, 0.5), (-1.0, None, 0.5), (0.7, None, 0.7),
     (0.95, (0.1, 0.9), 0.9), (0.01, (0.1, 0.9), 0.1), (None, (0.1, 0.9), 0.5)],
)  # fmt: skip
def test_finalize(score, clip, expected):
    assert finalize(score, 0.5, clip) == pytest.approx(expected)


def test_member_output_ok():
    assert member("m", [0.5]).ok
    assert not member("m").ok
    assert not member("m", [0.5], error="x").ok
