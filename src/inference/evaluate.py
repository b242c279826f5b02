"""Score a submission against known labels: DFDC log loss (clipped and raw), balanced log loss, AUC, AP, accuracy,
overall and per dataset and manipulation method, with ROC and calibration plots and a per-video CSV.

python -m src.inference.evaluate submission=submission.csv labels=labels.csv out=eval/
python -m src.inference.evaluate submission=submission.csv labels=dfdc_train_part_0/metadata.json timeline=[abc.mp4]

``labels`` is a CSV with ``filename,label`` (REAL/FAKE or 0/1; optional ``dataset``, ``method``) or a DFDC
``metadata.json``. A fake's method comes from the ``method`` column, the FaceForensics++ path, or "DFDC"; per-method
rows score that method's fakes against the real videos of the same dataset, so each row has both classes.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torchmetrics.functional.classification import binary_auroc, binary_average_precision

from src.inference import plots
from src.models.metrics import KAGGLE_EPS
from src.utils.cli import parse_args, setting
from src.utils.config import one_line
from src.utils.io import atomic_open
from src.video.sources import LABELS, ffpp_record, read_labels_csv

log = logging.getLogger(__name__)


def load_submission(path: str | Path) -> pd.DataFrame:
    """``filename,label`` rows (label = P(fake)) as columns ``filename, score``."""
    frame = pd.read_csv(path, dtype={"filename": str})
    if list(frame.columns[:2]) != ["filename", "label"]:
        raise ValueError(f"{path}: a submission has the columns filename,label (got {list(frame.columns)})")
    if frame["filename"].duplicated().any():
        raise ValueError(
            f"{path}: duplicate filenames, e.g. {frame['filename'][frame['filename'].duplicated()].iloc[0]}"
        )
    scores = pd.to_numeric(frame["label"], errors="coerce")
    if scores.isna().any() or not scores.between(0, 1).all():
        raise ValueError(f"{path}: every label must be a probability in [0, 1]")
    return pd.DataFrame({"filename": frame["filename"], "score": scores.astype(float)})


def load_labels(path: str | Path) -> pd.DataFrame:
    """Labels as columns ``filename, target`` (1 fake, 0 real), ``dataset``, ``method``; unlabelled rows dropped."""
    path = Path(path)
    if path.suffix == ".json":
        with open(path, encoding="utf-8") as handle:
            rows = {
                name: {"label": entry.get("label", ""), "dataset": "dfdc"} for name, entry in json.load(handle).items()
            }
    else:
        rows = read_labels_csv(path)
    records = []
    for filename, row in rows.items():
        target = LABELS.get(str(row.get("label", "")).strip().upper())
        if target is None:
            continue
        ffpp = ffpp_record(Path(), Path(filename))
        dataset = row.get("dataset") or (ffpp.dataset if ffpp else "folder")
        method = row.get("method") or (ffpp.method if ffpp else ("DFDC" if dataset == "dfdc" else "fake"))
        records.append(
            {"filename": filename, "target": target, "dataset": dataset, "method": method if target else "real"}
        )
    if not records:
        raise ValueError(f"{path}: no rows with a REAL/FAKE label")
    return pd.DataFrame(records)


def join(submission: pd.DataFrame, labels: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Labelled rows with their score, and the labelled filenames the submission lacks.

    Filenames match exactly; a submission of bare names (Kaggle style) matches labels by base name when the base
    names of the labels are unique.
    """
    keys = labels["filename"]
    if not keys.isin(submission["filename"]).any():
        base = keys.map(lambda f: Path(f).name)
        if base.duplicated().any():
            raise ValueError("no submission row matches a labelled filename, and base names are not unique")
        labels = labels.assign(filename=base)
        keys = labels["filename"]
    merged = labels.merge(submission, on="filename", how="left")
    missing = merged.loc[merged["score"].isna(), "filename"].tolist()
    return merged.dropna(subset=["score"]).reset_index(drop=True), missing


def log_loss(target: np.ndarray, score: np.ndarray, eps: float | None = KAGGLE_EPS) -> float:
    """Mean binary cross-entropy; scores clipped to ``[eps, 1 - eps]`` (``None``: raw, possibly infinite)."""
    y = np.asarray(target, np.float64)
    p = np.asarray(score, np.float64)
    if y.size == 0:
        return float("nan")
    if eps is not None:
        p = np.clip(p, eps, 1 - eps)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(y == 1, -np.log(p), -np.log1p(-p))
    return float(terms.mean())


def balanced_log_loss(target: np.ndarray, score: np.ndarray, eps: float | None = KAGGLE_EPS) -> float:
    """Mean of the real-class and fake-class log losses (RobustForensics' model selection metric)."""
    y = np.asarray(target)
    p = np.asarray(score)
    return float(np.mean([log_loss(y[y == c], p[y == c], eps) for c in (0, 1)]))


def metrics(target: np.ndarray, score: np.ndarray, eps: float = KAGGLE_EPS, clip: float = 0.01) -> dict[str, float]:
    """All the numbers for one set of videos; AUC and AP are NaN unless both classes are present."""
    y = np.array(target, np.int64)
    p = np.array(score, np.float64)
    both = 0 < y.sum() < y.size
    yt, pt = torch.as_tensor(y), torch.as_tensor(p)
    return {
        "n": int(y.size),
        "n_fake": int(y.sum()),
        "log_loss": log_loss(y, p, eps),
        f"log_loss_clip{clip:g}": log_loss(y, p, clip),
        "log_loss_raw": log_loss(y, p, None),
        "balanced_log_loss": balanced_log_loss(y, p, eps) if both else float("nan"),
        "auc": float(binary_auroc(pt, yt)) if both else float("nan"),
        "ap": float(binary_average_precision(pt, yt)) if both else float("nan"),
        "acc@0.5": float(((p > 0.5) == (y == 1)).mean()) if y.size else float("nan"),
    }


def subsets(joined: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """All videos, each dataset, and each fake method of a dataset together with that dataset's real videos."""
    out = {"all": joined}
    for dataset, rows in joined.groupby("dataset", sort=True):
        out[f"dataset={dataset}"] = rows
        reals = rows[rows["target"] == 0]
        for method, fakes in rows[rows["target"] == 1].groupby("method", sort=True):
            out[f"dataset={dataset} method={method}"] = pd.concat([fakes, reals])
    return out


def evaluate(joined: pd.DataFrame, eps: float = KAGGLE_EPS, clip: float = 0.01) -> pd.DataFrame:
    table = [
        {"subset": name} | metrics(rows["target"], rows["score"], eps, clip) for name, rows in subsets(joined).items()
    ]
    return pd.DataFrame(table).set_index("subset")


def per_video(joined: pd.DataFrame, eps: float = KAGGLE_EPS) -> pd.DataFrame:
    y, p = joined["target"].to_numpy(), joined["score"].to_numpy()
    clipped = np.clip(p, eps, 1 - eps)
    return joined.assign(
        log_loss=np.where(y == 1, -np.log(clipped), -np.log1p(-clipped)),
        correct=(p > 0.5) == (y == 1),
    ).sort_values("log_loss", ascending=False)


def default_report_dir(submission: str | Path) -> Path:
    """Where ``predict.py`` puts the per-video reports of ``submission``: ``<stem>_report/`` beside it."""
    submission = Path(submission)
    return submission.with_name(f"{submission.stem}_report")


def evaluate_submission(
    submission: str | Path,
    labels: str | Path,
    out: str | Path | None = None,
    eps: float = KAGGLE_EPS,
    clip: float = 0.01,
    timeline: list[str] | tuple[str, ...] = (),
    reports: str | Path | None = None,
) -> pd.DataFrame:
    """Print and write the metrics table, ``per_video.csv``, the ROC and calibration plots (and ``timeline`` videos'
    score timelines) of ``submission`` under ``out`` (default ``<submission stem>_eval/``); returns the table.

    A missing or malformed file, or no labelled row in the submission, raises ``OSError``/``ValueError`` (one line).
    """
    submission = Path(submission)
    joined, missing = join(load_submission(submission), load_labels(labels))
    if missing:
        log.warning("%d labelled videos have no submission row (left out), e.g. %s", len(missing), missing[0])
    if joined.empty:
        raise ValueError(f"no submission row of {submission} has a label in {labels}")
    table = evaluate(joined, eps, clip)
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.4f}".format):
        print(table)
    out = Path(out) if out is not None else submission.with_name(f"{submission.stem}_eval")
    out.mkdir(parents=True, exist_ok=True)
    with atomic_open(out / "metrics.csv", newline="") as handle:
        table.to_csv(handle)
    with atomic_open(out / "per_video.csv", newline="") as handle:
        per_video(joined, eps).to_csv(handle, index=False)
    plots.roc(joined, out / "roc.png")
    plots.calibration(joined, out / "calibration.png")
    reports = Path(reports) if reports is not None else default_report_dir(submission)
    for video in timeline:
        target = out / f"timeline_{video.replace('/', '__')}.png"
        plots.timeline(reports / "videos" / f"{video}.json", target)
        print(f"timeline: {target}")
    print(f"wrote {out}/metrics.csv, per_video.csv, roc.png, calibration.png")
    return table


@dataclass
class EvaluateSettings:
    submission: Path = setting(help="CSV with filename,label (label = P(fake))")
    labels: Path = setting(help="labels CSV (filename,label,...) or DFDC metadata.json")
    out: Path | None = setting(None, "folder for metrics.csv, per_video.csv and the plots (null: <submission>_eval)")
    eps: float = setting(KAGGLE_EPS, "log-loss clip of the competition metric")
    clip: float = setting(0.01, "a practical clip [c, 1-c] to compare against")
    timeline: list[str] = setting([], "plot these videos' timelines, e.g. timeline=[dfdc/abc.mp4]")
    reports: Path | None = setting(None, "per-video reports of predict (null: <submission>_report)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(EvaluateSettings, argv, "python -m src.inference.evaluate", __doc__)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        evaluate_submission(args.submission, args.labels, args.out, args.eps, args.clip, args.timeline, args.reports)
    except (OSError, ValueError) as exc:
        print(f"evaluate: {one_line(exc)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
