"""The score report's account of each rule: the words name the branch the rule took, and NTech's averaged values are
the ones whose weighted mean is the video score."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from scipy.special import logit

from src.inference.aggregation import MemberOutput, ntech_rule, robustforensics_rule, selim_rule
from src.inference.explain import explain


def member(name: str, probs, group: str = "all", weight: float = 1.0) -> MemberOutput:
    return MemberOutput(name, (logit(np.asarray(probs, np.float64)),), weight, group)


def test_selim_names_the_confident_branch():
    fake = member("a", [0.9] * 14 + [0.5] * 18)  # 14 of 32 above 0.8: more than 32 // 2.5 = 12 and 11
    real = member("b", [0.1] * 30 + [0.5] * 2)  # 30 of 32 below 0.2: more than 28.8
    rule = partial(selim_rule, threshold=0.8, low=0.2, min_fakes=11)
    score = rule([fake, real])
    lines = explain(rule, [fake, real], score).lines
    assert lines[0].startswith("a: 14 of 32 faces above 0.8 (more than 12 and 11) → mean of those = 0.900")
    assert lines[1].startswith("b: 30 of 32 faces below 0.2 (more than 90 %) → mean of those = 0.100")
    assert lines[-1] == f"video: weighted mean of the 2 members = {score:.3f}"


def test_ntech_shows_what_was_averaged():
    outputs = [member("seq", [0.3, 0.45, 0.6, 0.55]), member("frame", [0.52, 0.4])]
    rule = partial(ntech_rule, power=0.65)
    score = rule(outputs)
    explained = explain(rule, outputs, score)
    values = np.concatenate([explained.averaged[o.name] for o in outputs])
    weights = np.concatenate([explained.weights[o.name] for o in outputs])
    assert np.average(values, weights=weights) == pytest.approx(score)
    assert score < 0.5 < np.mean(values[2:4])  # the sharpened values, not the raw ones, carry the score
    assert "6 predictions of 2 members pooled" in explained.lines[0]


def test_robustforensics_and_a_failed_member():
    outputs = [
        member("sf1", [0.9], "video", 10),
        member("b0", [0.1] * 10, "image", 7),
        MemberOutput("b1", (), 10, "image", error="CUDA out of memory"),
    ]
    score = robustforensics_rule(outputs)
    lines = explain(robustforensics_rule, outputs, score).lines
    assert lines[0] == "b1 failed (CUDA out of memory) and is left out"
    assert any(line.startswith("image group: 0 of 1 models above 0.8, 1 below 0.2") for line in lines)
    assert lines[-1].endswith(f"= {score:.3f}") and "0.4·0.900" in lines[-1]
