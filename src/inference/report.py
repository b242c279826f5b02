"""One self-contained HTML file per ``python -m src.score`` run: every video's verdict, its face tracks and models,
the rule's decision in words, and pictures embedded as base64 PNGs (matplotlib): the score timeline per track and
model (with what the rule averaged, where it transforms scores first), the faces the models saw with their scores,
the worst frames, and the detector's boxes on a few frames.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from src.inference.score import ScoredVideo
from src.utils.io import atomic_open

FACES_PER_TRACK = 8
WORST_FRAMES = 4
DETECTOR_FRAMES = 4
CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
h1{font-size:1.5em} h2{border-top:1px solid #ccc;padding-top:1em;font-size:1.25em}
.score{font-size:2em;font-weight:bold} .fake{color:#b00} .real{color:#070} .none{color:#666}
table{border-collapse:collapse;margin:.5em 0} td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f3f3f3} img{max-width:100%} .path{background:#f6f6e8;padding:.4em .8em;border-left:4px solid #cc8}
ul.decision li{font-family:monospace;font-size:.9em}
"""


def png(fig: plt.Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return '<img src="data:image/png;base64,' + base64.b64encode(buffer.getvalue()).decode("ascii") + '">'


def _frame(video: ScoredVideo, frame: int) -> np.ndarray | None:
    """The decoded RGB frame ``frame`` of the video, if it was decoded."""
    indices = video.frames.indices
    row = int(np.searchsorted(indices, frame))
    return video.frames.frames[row] if row < len(indices) and indices[row] == frame else None


def _member_samples(video: ScoredVideo) -> list[dict]:
    return video.result.members if video.result else []


def timeline(video: ScoredVideo) -> str:
    """Per track: each model's P(fake) over the source frames; where the rule transforms scores, what it averaged."""
    tracks = video.tracks or []
    if not tracks:
        return ""
    fig, axes = plt.subplots(len(tracks), 1, figsize=(10, 2.8 * len(tracks)), sharex=True, squeeze=False)
    explanation = video.explanation
    for t, (ax, track) in enumerate(zip(axes[:, 0], tracks, strict=True)):
        for color, member in enumerate(_member_samples(video)):
            s = member["samples"]
            sel = np.asarray(s["track"], np.int64) == t
            x = (np.asarray(s["first"])[sel] + np.asarray(s["last"])[sel]) / 2
            prob = np.asarray(s["prob"])[sel]
            ax.plot(x, prob, "o-", ms=3, lw=0.8, color=f"C{color % 10}", label=member["name"])
            if explanation is not None and member["name"] in explanation.averaged:
                values = explanation.averaged[member["name"]]
                weights = explanation.weights[member["name"]]
                offset = sum(int((np.asarray(s["track"]) == k).sum()) for k in range(t))
                own = slice(offset, offset + int(sel.sum()))
                ax.scatter(x, values[own], s=10 + 200 * weights[own] / max(weights.max(), 1e-9), marker="D",
                           facecolors="none", edgecolors=f"C{color % 10}",
                           label=explanation.label if color == 0 else None)  # fmt: skip
        ax.axhline(video.score, color="black", lw=1.5, label=f"video score {video.score:.3f}")
        if track.score is not None:
            ax.axhline(track.score, color="grey", lw=1, ls="--", label=f"track score {track.score:.3f}")
        ax.axhline(0.5, color="grey", lw=0.5, ls=":")
        ax.set(ylim=(-0.03, 1.03), ylabel="P(fake)", title=f"track {t} (frames {track.frames[0]}-{track.frames[-1]})")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=7)
    axes[-1, 0].set_xlabel("source frame")
    return png(fig)


def _frame_scores(video: ScoredVideo) -> dict[tuple[int, int], float]:
    """Mean P(fake) over the models of each (track, frame) a sample starts at."""
    values: dict[tuple[int, int], list[float]] = {}
    for member in _member_samples(video):
        s = member["samples"]
        for t, first, prob in zip(s["track"], s["first"], s["prob"], strict=True):
            values.setdefault((int(t), int(first)), []).append(float(prob))
    return {k: float(np.mean(v)) for k, v in values.items()}


def faces(video: ScoredVideo) -> str:
    """Up to eight crops per track, evenly spaced, with the models' mean P(fake) on that frame."""
    if not video.tracks or video.frames is None:
        return ""
    scores = _frame_scores(video)
    rows = len(video.tracks)
    fig, axes = plt.subplots(rows, FACES_PER_TRACK, figsize=(1.6 * FACES_PER_TRACK, 1.9 * rows), squeeze=False)
    for t, track in enumerate(video.tracks):
        scored = [i for i, f in enumerate(track.frames) if (t, int(f)) in scores] or list(range(len(track.frames)))
        picks = [scored[i] for i in np.unique(np.linspace(0, len(scored) - 1, FACES_PER_TRACK).round().astype(int))]
        for ax in axes[t]:
            ax.axis("off")
        for ax, i in zip(axes[t], picks, strict=False):
            frame = int(track.frames[i])
            if _frame(video, frame) is None:  # an interpolated track frame that was not decoded
                continue
            ax.imshow(video.frames.crop(frame, track.boxes[i]))
            value = scores.get((t, frame))
            ax.set_title(f"t{t} f{frame}" + (f"\n{value:.2f}" if value is not None else ""), fontsize=8,
                         color="#b00" if value is not None and value >= 0.5 else "#070")  # fmt: skip
    return png(fig)


def worst_frames(video: ScoredVideo) -> str:
    """The frames with the highest mean P(fake), whole, with the scored face's box."""
    scores = _frame_scores(video)
    if not scores or video.frames is None:
        return ""
    worst = sorted(scores.items(), key=lambda kv: -kv[1])[:WORST_FRAMES]
    fig, axes = plt.subplots(1, len(worst), figsize=(3.2 * len(worst), 2.8), squeeze=False)
    for ax, ((t, frame), value) in zip(axes[0], worst, strict=True):
        track = video.tracks[t]
        box = track.boxes[int(np.flatnonzero(track.frames == frame)[0])]
        ax.imshow(_frame(video, frame))
        x1, y1, x2, y2 = box
        ax.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, color="red", lw=1.5))
        ax.set_title(f"frame {frame}, track {t}: {value:.3f}", fontsize=9)
        ax.axis("off")
    return png(fig)


def detector_boxes(video: ScoredVideo) -> str:
    """Every raw detection with its score on a few evenly spaced detected frames."""
    det = video.detections
    if det is None or not len(det) or video.frames is None:
        return ""
    picks = np.unique(np.linspace(0, len(det) - 1, DETECTOR_FRAMES).round().astype(int))
    fig, axes = plt.subplots(1, len(picks), figsize=(3.2 * len(picks), 2.8), squeeze=False)
    for ax, i in zip(axes[0], picks, strict=True):
        frame = int(det.frame_indices[i])
        ax.imshow(_frame(video, frame))
        for (x1, y1, x2, y2), score in zip(det.frames[i].boxes, det.frames[i].scores, strict=True):
            ax.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, color="yellow", lw=1.2))
            ax.text(x1, y1, f"{score:.2f}", color="yellow", fontsize=7, va="bottom")
        ax.set_title(f"frame {frame}: {_count(len(det.frames[i]), 'face')}", fontsize=9)
        ax.axis("off")
    return png(fig)


def _track_table(video: ScoredVideo) -> str:
    members = [m["name"] for m in _member_samples(video)]
    head = "".join(f"<th>{html.escape(m)}</th>" for m in members)
    rows = []
    for t, track in enumerate(video.tracks):
        cells = "".join(f"<td>{_num(track.member_scores.get(m))}</td>" for m in members)
        rows.append(f"<tr><td>{t}</td><td>{track.frames[0]}-{track.frames[-1]}</td><td>{len(track.frames)}</td>"
                    f"<td><b>{_num(track.score)}</b></td>{cells}</tr>")  # fmt: skip
    return (f"<table><tr><th>track</th><th>frames</th><th>length</th><th>track score</th>{head}</tr>"
            f"{''.join(rows)}</table>")  # fmt: skip


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def video_section(video: ScoredVideo) -> str:
    status = video.result.status if video.result else "unreadable"
    css = "none" if status != "ok" else ("fake" if video.score >= 0.5 else "real")
    parts = [
        f"<h2>{html.escape(Path(video.path).name)}</h2>",
        f"<p><span class='score {css}'>{video.score:.3f}</span> {html.escape(video.verdict)}</p>",
        f"<p class='path'>faces: {html.escape(video.faces_path)}</p>",
    ]
    if video.result is not None:
        info = video.result.info
        timings = ", ".join(f"{k} {v:.1f} s" for k, v in video.result.timings.items())
        found = _count(sum(video.result.faces), "face")
        parts.append(f"<p>{info.get('width')}x{info.get('height')}, {info.get('num_frames')} frames at "
                     f"{info.get('fps', 0):.1f} fps; {len(video.result.decoded)} frames decoded, "
                     f"{len(video.result.detected)} searched for faces, {found} found, "
                     f"{_count(len(video.tracks), 'track')}. Time: {timings}.</p>")  # fmt: skip
    if video.tracks:
        parts.append("<h3>Face tracks and models</h3>" + _track_table(video))
    if video.explanation is not None:
        items = "".join(f"<li>{html.escape(line)}</li>" for line in video.explanation.lines)
        parts.append(f"<h3>The rule's decision</h3><ul class='decision'>{items}</ul>")
    for title, picture in (
        ("Score timeline per track and model", timeline(video)),
        ("The faces the models saw (mean P(fake) of the models)", faces(video)),
        ("Worst frames", worst_frames(video)),
        ("Detector boxes", detector_boxes(video)),
    ):
        if picture:
            parts.append(f"<h3>{title}</h3>{picture}")
    return "\n".join(parts)


def write_report(videos: Sequence[ScoredVideo], path: str | Path, settings: str) -> Path:
    path = Path(path)
    summary = "".join(
        f"<tr><td style='text-align:left'>{html.escape(Path(v.path).name)}</td><td>{v.score:.3f}</td>"
        f"<td style='text-align:left'>{html.escape(v.verdict)}</td></tr>"
        for v in videos
    )
    body = "\n".join(video_section(v) for v in videos)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>dfdetect score report</title>"
            f"<style>{CSS}</style></head><body><h1>dfdetect: is this video fake?</h1>"
            f"<p>{html.escape(settings)}</p><table><tr><th>video</th><th>P(fake)</th><th>verdict</th></tr>{summary}"
            f"</table>{body}</body></html>")  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write(page)
    return path
