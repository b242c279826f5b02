"""The aggregation rule's decision for one video, in words and in numbers, for the score report.

Each of the three rules of :mod:`src.inference.aggregation` gets an explainer that retraces its steps with the same
pieces and thresholds (the keywords of the configured partial) and returns the lines a reader needs ("12 of 32
faces above 0.8 → mean of those = 0.91") plus, where the rule transforms the probabilities before averaging (NTech's
sharpening), the values that were averaged and their weights, so a plot can show what the video score is the mean of.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from src.inference import aggregation as agg
from src.inference.aggregation import MemberOutput


@dataclass
class Explanation:
    lines: list[str]
    averaged: dict[str, np.ndarray] = field(default_factory=dict)  # member → the values the rule averaged, per sample
    weights: dict[str, np.ndarray] = field(default_factory=dict)  # member → their weights in the average
    label: str = ""  # what ``averaged`` is, for a plot legend


def _unpack(rule: Callable) -> tuple[Callable, dict[str, Any]]:
    if isinstance(rule, functools.partial):
        return rule.func, dict(rule.keywords)
    return rule, {}


def explain(rule: Callable, outputs: Sequence[MemberOutput], score: float | None) -> Explanation:
    func, kwargs = _unpack(rule)
    explainer = EXPLAINERS.get(func)
    if explainer is None:
        return Explanation([f"{getattr(func, '__name__', func)} over {len(outputs)} members → {_fmt(score)}"])
    ok = [o for o in outputs if o.ok]
    failed = [f"{o.name} failed ({o.error}) and is left out" for o in outputs if o.error]
    if not ok:
        return Explanation([*failed, "no member scored a face: the video gets the fallback"])
    explanation = explainer(ok, score, **kwargs)
    explanation.lines = failed + explanation.lines
    return explanation


def _fmt(value: float | None) -> str:
    return "none" if value is None else f"{value:.3f}"


def explain_selim(outputs, score, threshold=0.8, low=0.2, min_fakes=11) -> Explanation:
    lines = []
    for out in outputs:
        p = np.concatenate(out.probabilities())
        n, fakes, reals = p.size, int((p > threshold).sum()), int((p < low).sum())
        value = agg.selim_confident_strategy(p, threshold, low, min_fakes)
        if fakes > n // 2.5 and fakes > min_fakes:
            why = f"{fakes} of {n} faces above {threshold} (more than {int(n // 2.5)} and {min_fakes}) → mean of those"
        elif reals > 0.9 * n:
            why = f"{reals} of {n} faces below {low} (more than 90 %) → mean of those"
        else:
            why = (f"{fakes} of {n} faces above {threshold} (needs more than {max(int(n // 2.5), min_fakes)}), "
                   f"{reals} below {low} (needs more than {0.9 * n:.1f}) → mean of all {n}")  # fmt: skip
        lines.append(f"{out.name}: {why} = {value:.3f}")
    lines.append(f"video: weighted mean of the {len(outputs)} members = {_fmt(score)}")
    return Explanation(lines)


def explain_ntech(outputs, score, power=0.65, clip=(0.01, 0.99), eps=1e-4, weight_power=1.0, member_weights=False,
                  balance_members=False) -> Explanation:  # fmt: skip
    averaged, weights = {}, {}
    raw = []
    for out in outputs:
        p = np.concatenate(out.probabilities())
        raw.append(p)
        averaged[out.name] = agg.ntech_transform(p, power, tuple(clip))
        scale = (out.weight if member_weights else 1.0) / (p.size if balance_members else 1.0)
        weights[out.name] = agg.ntech_weights(p, eps, weight_power) * scale
    p = np.concatenate(raw)
    lines = [
        f"{p.size} predictions of {len(outputs)} members pooled (raw mean {p.mean():.3f})",
        f"each sharpened: p' = 0.5 + sign(p - 0.5)·|p - 0.5|^{power}, clipped to [{clip[0]}, {clip[1]}]",
        f"and weighted by its confidence |p - 0.5|{'' if weight_power == 1 else f'^{weight_power}'} + {eps:g}: "
        f"predictions near 0.5 count little",
        f"video: weighted mean of the sharpened predictions = {_fmt(score)}",
    ]
    return Explanation(lines, averaged, weights, "sharpened p' (what was averaged; size = weight)")


def explain_robustforensics(outputs, score, group_weights=None, frame_group=5, face_high=0.85, face_low=0.15,
                            face_fraction=0.7, is_scale_members=(), model_high=0.8, model_low=0.2,
                            model_fraction=0.7) -> Explanation:  # fmt: skip
    group_weights = dict(agg.RF_GROUP_WEIGHTS if group_weights is None else group_weights)
    lines, parts = [], []
    for group, weight in group_weights.items():
        members = [o for o in outputs if o.group == group]
        scores = [agg.robustforensics_member_score(o, frame_group, face_high, face_low, face_fraction,
                                                   o.name in is_scale_members) for o in members]  # fmt: skip
        if not members:
            continue
        for out, value in zip(members, scores, strict=True):
            tracks = [t for t in out.tracks if t.size]
            groups = [agg.logit_group_probabilities(t, frame_group) for t in tracks]
            faces = ", ".join(f"{agg.confident_mean(g, face_high, face_low, face_fraction):.3f}" for g in groups)
            shrink = " (isScale)" if out.name in is_scale_members else ""
            counts = f"{sum(t.size for t in tracks)} predictions in {sum(g.size for g in groups)} logit groups"
            lines.append(
                f"{out.name} [{group}]: {counts} of up to {frame_group}; per face [{faces}] → {value:.3f}{shrink}"
            )
        values = np.array(scores)
        high, low = int((values > model_high).sum()), int((values < model_low).sum())
        combined = agg.confident_mean(values, model_high, model_low, model_fraction, [o.weight for o in members])
        lines.append(f"{group} group: {high} of {len(values)} models above {model_high}, {low} below {model_low} "
                     f"(needs more than {model_fraction:.0%}) → weighted mean = {combined:.3f}")  # fmt: skip
        parts.append(f"{weight}·{combined:.3f}")
    lines.append(f"video: ({' + '.join(parts)}) / sum of the weights used = {_fmt(score)}")
    return Explanation(lines)


EXPLAINERS: dict[Callable, Callable[..., Explanation]] = {
    agg.selim_rule: explain_selim,
    agg.ntech_rule: explain_ntech,
    agg.robustforensics_rule: explain_robustforensics,
}
