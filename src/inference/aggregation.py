"""Per-video aggregation: the outputs of every ensemble member for one video in, one P(fake) out.

Every member reports, per face track, the fake logit of each of its samples in time order
(:class:`MemberOutput`). A two-class head contributes ``logit_fake - logit_real``: softmax over two logits is the
sigmoid of their difference, and averaging two-class logits (RobustForensics' 5-frame groups and flip TTA) equals
averaging the differences, so one number per sample loses nothing.

Three rules, each a pure function over those outputs, built from the small pieces below:

* :func:`ntech_rule` — NTechLab: pool every prediction, sharpen ``p' = clip(0.5 + sign(d)|d|^0.65)``, weight by
  ``|d| + 1e-4`` of the raw ``d = p - 0.5``.
* :func:`robustforensics_rule` — RobustForensics' "confident policy": 5-frame logit groups, a 70 % confident rule per
  face, a max/min rule across faces, isScale, a 70 % confident weighted mean per model group, 0.4 video + 0.6 image.
* :func:`selim_rule` — Selim Seferbekov's "confident strategy" per member, then the weighted mean of the members.

A rule returns ``None`` when nothing could be scored (no face, every member failed); :func:`finalize` turns that,
and any value outside [0, 1], into the configured fallback and applies the optional final clip.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from scipy.special import expit


@dataclass(frozen=True)
class MemberOutput:
    """Fake logits of one ensemble member on one video: ``tracks[k]`` holds face track k's samples in time order."""

    name: str
    tracks: tuple[np.ndarray, ...] = ()
    weight: float = 1.0
    group: str = "all"
    error: str | None = None  # why the member failed on this video; a failed member is left out by every rule

    def __post_init__(self) -> None:
        object.__setattr__(self, "tracks", tuple(np.asarray(t, np.float64).reshape(-1) for t in self.tracks))

    @property
    def ok(self) -> bool:
        return self.error is None and any(t.size for t in self.tracks)

    def probabilities(self) -> list[np.ndarray]:
        return [expit(t) for t in self.tracks if t.size]


# --- NTechLab (../shared/spec/ntechlab_detail.md §5) -----------------------------------------------------------------


def ntech_transform(p: np.ndarray, power: float = 0.65, clip: tuple[float, float] = (0.01, 0.99)) -> np.ndarray:
    """Sharpen mixup-softened probabilities: ``clip(0.5 + sign(d)·|d|^power)`` with ``d = p - 0.5``."""
    d = np.asarray(p, np.float64) - 0.5
    return np.clip(0.5 + np.sign(d) * np.abs(d) ** power, *clip)


def ntech_weights(p: np.ndarray, eps: float = 1e-4, power: float = 1.0) -> np.ndarray:
    """Confidence weights ``|p - 0.5|^power + eps`` of the *untransformed* probabilities."""
    return np.abs(np.asarray(p, np.float64) - 0.5) ** power + eps


def ntech_weighted_mean(
    p: np.ndarray,
    power: float = 0.65,
    clip: tuple[float, float] = (0.01, 0.99),
    eps: float = 1e-4,
    weight_power: float = 1.0,
    prior: np.ndarray | None = None,
) -> float | None:
    """``Σ p'·w / Σ w`` over all predictions; ``prior`` multiplies each weight (per-member weights)."""
    p = np.asarray(p, np.float64).reshape(-1)
    if p.size == 0:
        return None
    w = ntech_weights(p, eps, weight_power)
    if prior is not None:
        w = w * np.asarray(prior, np.float64).reshape(-1)
    return float(np.sum(ntech_transform(p, power, clip) * w) / np.sum(w))


def ntech_rule(
    outputs: Sequence[MemberOutput],
    power: float = 0.65,
    clip: tuple[float, float] = (0.01, 0.99),
    eps: float = 1e-4,
    weight_power: float = 1.0,
    member_weights: bool = False,
    balance_members: bool = False,
) -> float | None:
    """Pool every prediction of every track and member into one confidence-weighted mean.

    The seed weights each prediction alike, so a member's share is its prediction count (seq ≈ 50 %, each frame
    model ≈ 25 %). ``member_weights`` multiplies each weight by its member's ``weight``; ``balance_members``
    additionally divides by the member's prediction count, so shares follow the weights instead of the counts.
    """
    probs, prior = [], []
    for out in outputs:
        if not out.ok:
            continue
        p = np.concatenate(out.probabilities())
        scale = out.weight if member_weights else 1.0
        if balance_members:
            scale /= p.size
        probs.append(p)
        prior.append(np.full(p.size, scale))
    if not probs:
        return None
    return ntech_weighted_mean(np.concatenate(probs), power, clip, eps, weight_power, np.concatenate(prior))


# --- RobustForensics (../shared/spec/robustforensics.md §8) ----------------------------------------------------------

RF_GROUP_WEIGHTS = MappingProxyType({"video": 0.4, "image": 0.6})


def logit_group_probabilities(logits: np.ndarray, group: int = 5) -> np.ndarray:
    """P(fake) of consecutive groups of ``group`` samples, averaging logits inside a group (remainder dropped).

    A track shorter than one group forms a single group of what it has (the seed would average nothing and end
    at its 0.5 fallback); a one-sample SlowFast track therefore yields its own probability.
    """
    logits = np.asarray(logits, np.float64).reshape(-1)
    if logits.size == 0:
        return logits
    usable = logits.size // group * group
    groups = logits[:usable].reshape(-1, group) if usable else logits.reshape(1, -1)
    return expit(groups.mean(axis=1))


def confident_mean(
    scores: np.ndarray,
    high: float,
    low: float,
    fraction: float = 0.7,
    weights: np.ndarray | None = None,
) -> float:
    """Mean of the confident scores when more than ``fraction`` of them agree, else the mean of all.

    If more than ``fraction`` of the scores are > ``high``, the (weighted) mean of those; else if more than
    ``fraction`` are < ``low``, the mean of those; else the mean of all.
    """
    scores = np.asarray(scores, np.float64).reshape(-1)
    weights = np.ones_like(scores) if weights is None else np.asarray(weights, np.float64).reshape(-1)
    for mask in (scores > high, scores < low):
        if mask.sum() > fraction * scores.size:
            return float(np.average(scores[mask], weights=weights[mask]))
    return float(np.average(scores, weights=weights))


def cross_face_score(
    face_scores: np.ndarray, max_above: float = 0.9, all_above: float = 0.6, all_below: float = 0.4
) -> float:
    """One score from several faces: any face > 0.9 → max; all > 0.6 → max; all < 0.4 → min; else mean."""
    s = np.asarray(face_scores, np.float64).reshape(-1)
    if s.max() > max_above or np.all(s > all_above):
        return float(s.max())
    if np.all(s < all_below):
        return float(s.min())
    return float(s.mean())


def is_scale(score: float, bound: float = 0.02, factor: float = 0.96) -> float:
    """Shrink an extreme score towards 0.5: ``s >= 1 - bound`` or ``s <= bound`` → ``(s - 0.5)·factor + 0.5``."""
    if score >= 1 - bound or score <= bound:
        return (score - 0.5) * factor + 0.5
    return score


def robustforensics_member_score(
    out: MemberOutput,
    frame_group: int = 5,
    face_high: float = 0.85,
    face_low: float = 0.15,
    face_fraction: float = 0.7,
    shrink: bool = False,
) -> float | None:
    """One member's video score: logit groups → per-face confident mean → cross-face rule → optional isScale."""
    if not out.ok:
        return None
    faces = [
        confident_mean(logit_group_probabilities(track, frame_group), face_high, face_low, face_fraction)
        for track in out.tracks
        if track.size
    ]
    score = cross_face_score(np.array(faces))
    return is_scale(score) if shrink else score


def robustforensics_rule(
    outputs: Sequence[MemberOutput],
    group_weights: Mapping[str, float] | None = None,
    frame_group: int = 5,
    face_high: float = 0.85,
    face_low: float = 0.15,
    face_fraction: float = 0.7,
    is_scale_members: Sequence[str] = (),
    model_high: float = 0.8,
    model_low: float = 0.2,
    model_fraction: float = 0.7,
) -> float | None:
    """Members → per-group confident weighted means → ``Σ group_weight·group / Σ available group weights``.

    With both groups this is 0.4·SlowFast + 0.6·image; a group whose members all failed drops out and the other is
    used alone; with none the rule returns ``None``. No final clipping (only isScale on ``is_scale_members``).
    """
    group_weights = RF_GROUP_WEIGHTS if group_weights is None else group_weights
    unknown = sorted({out.group for out in outputs} - set(group_weights))
    if unknown:
        raise ValueError(f"members in groups {unknown} have no entry in group_weights {dict(group_weights)}")
    combined, total = 0.0, 0.0
    for group, group_weight in group_weights.items():
        scores, weights = [], []
        for out in outputs:
            if out.group != group:
                continue
            score = robustforensics_member_score(
                out, frame_group, face_high, face_low, face_fraction, shrink=out.name in is_scale_members
            )
            if score is not None:
                scores.append(score)
                weights.append(out.weight)
        if scores:
            combined += group_weight * confident_mean(np.array(scores), model_high, model_low, model_fraction, weights)
            total += group_weight
    return combined / total if total > 0 else None


# --- Selim Seferbekov, 1st place (../shared/spec/peers.md) ------------------------------------------------------------


def selim_confident_strategy(p: np.ndarray, threshold: float = 0.8, low: float = 0.2, min_fakes: int = 11) -> float:
    """Mean of the confident frames when enough agree, else the mean of all.

    With ``n = len(p)``: if the number of frames with ``p > threshold`` exceeds ``n // 2.5`` and ``min_fakes``, the
    mean of those; else if more than ``0.9·n`` frames have ``p < low``, the mean of those; else the mean of all.
    """
    p = np.asarray(p, np.float64).reshape(-1)
    n = p.size
    fakes = p > threshold
    if fakes.sum() > n // 2.5 and fakes.sum() > min_fakes:
        return float(p[fakes].mean())
    reals = p < low
    if reals.sum() > 0.9 * n:
        return float(p[reals].mean())
    return float(p.mean())


def selim_rule(
    outputs: Sequence[MemberOutput], threshold: float = 0.8, low: float = 0.2, min_fakes: int = 11
) -> float | None:
    """Confident strategy over each member's frame probabilities (all faces pooled), then the members' weighted mean."""
    scores, weights = [], []
    for out in outputs:
        if out.ok:
            scores.append(selim_confident_strategy(np.concatenate(out.probabilities()), threshold, low, min_fakes))
            weights.append(out.weight)
    return float(np.average(scores, weights=weights)) if scores else None


# --- after every rule -------------------------------------------------------------------------------------------------


def finalize(score: float | None, fallback: float = 0.5, clip: Sequence[float] | None = None) -> float:
    """The submitted value: ``fallback`` for no score, NaN or a value outside [0, 1]; then the optional clip."""
    if score is None or not np.isfinite(score) or not 0.0 <= score <= 1.0:
        score = fallback
    if clip is not None:
        score = float(np.clip(score, clip[0], clip[1]))
    return float(score)
