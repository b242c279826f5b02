"""Pictures of a prediction run: ROC curves, a reliability diagram and one video's score timeline (PNG, Agg)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from sklearn.calibration import calibration_curve
from torchmetrics.functional.classification import binary_auroc, binary_roc

from src.utils.io import atomic_path, read_json


def _save(fig: plt.Figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
    return Path(path)


def roc(joined: pd.DataFrame, path: str | Path) -> Path:
    """ROC curve of all videos and of each dataset that has both classes."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    groups = [("all", joined)]
    if joined["dataset"].nunique() > 1:
        groups += list(joined.groupby("dataset", sort=True))
    for name, rows in groups:
        y = torch.tensor(rows["target"].to_numpy(np.int64))
        if not 0 < int(y.sum()) < len(y):
            continue
        p = torch.tensor(rows["score"].to_numpy(np.float64))
        fpr, tpr, _ = binary_roc(p, y)
        ax.plot(fpr, tpr, label=f"{name} (AUC {float(binary_auroc(p, y)):.3f}, n={len(y)})")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax.set(xlabel="false positive rate (real called fake)", ylabel="true positive rate (fake caught)", title="ROC")
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, Path(path))


def calibration(joined: pd.DataFrame, path: str | Path, bins: int = 10) -> Path:
    """Reliability diagram: fraction of fakes per predicted-probability bin, with the bin counts below."""
    p = joined["score"].to_numpy(np.float64)
    y = joined["target"].to_numpy(np.int64)
    frac, mean_p = calibration_curve(y, p, n_bins=bins, strategy="uniform")  # the non-empty bins only
    edges = np.linspace(0, 1, bins + 1)
    counts, _ = np.histogram(p, edges)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(5.5, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--", label="perfectly calibrated")
    top.plot(mean_p, frac, "o-", label="this submission")
    top.set(ylabel="fraction of fake videos", title="Calibration", ylim=(-0.02, 1.02))
    top.legend(loc="upper left", fontsize=8)
    bottom.bar(edges[:-1], counts, width=1 / bins, align="edge", edgecolor="white")
    bottom.set(xlabel="predicted P(fake)", ylabel="videos", xlim=(0, 1))
    return _save(fig, Path(path))


def timeline(report_path: str | Path, path: str | Path) -> Path:
    """One video: every model sample's P(fake) over the frames it saw, the final score, faces found per frame."""
    report_path = Path(report_path)
    if not report_path.is_file():
        raise FileNotFoundError(f"{report_path}: no per-video report (run predict.py with this video first)")
    report = read_json(report_path)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    markers = "os^Dv<>"
    for color, member in enumerate(report["members"]):
        samples = member["samples"]
        first, last = np.array(samples["first"]), np.array(samples["last"])
        prob, track = np.array(samples["prob"]), np.array(samples["track"], np.int64)
        label = member["name"] + (f" (failed: {member['error']})" if member.get("error") else "")
        for t in np.unique(track):
            sel = track == t
            top.scatter((first[sel] + last[sel]) / 2, prob[sel], s=14, color=f"C{color}", marker=markers[t % 7],
                        label=label if t == track.min() else None)  # fmt: skip
            spans = sel & (last > first)
            top.hlines(prob[spans], first[spans], last[spans], color=f"C{color}", lw=1.5)
        if not track.size:
            top.plot([], [], color=f"C{color}", label=label)
    top.axhline(report["score"], color="black", lw=1.2, label=f"video score {report['score']:.3f}")
    top.axhline(0.5, color="grey", lw=0.6, ls=":")
    top.set(ylabel="P(fake)", ylim=(-0.03, 1.03), title=f"{report['video_id']}  ({report['status']})")
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    sampling = report["sampling"]
    bottom.step(sampling["detected"], sampling["faces"], where="mid", marker=".", markersize=4)
    bottom.set(xlabel="source frame", ylabel="faces found")
    bottom.set_ylim(bottom=0)
    bottom.yaxis.get_major_locator().set_params(integer=True)
    return _save(fig, Path(path))
