"""Where the videos are and what is known about them: DFDC parts, FaceForensics++ trees, or any labelled folder.

Every source yields :class:`VideoRecord` rows with a stable ``video_id`` (the path relative to the dataset root, with
``/`` separators), the label (1 = FAKE, 0 = REAL, ``None`` = unknown) and, for fakes, the ``video_id`` of the real
video it was made from. Artifacts of every stage are keyed by ``video_id``.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from src.utils.io import TMP_PREFIX

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")
FFPP_FAKE = re.compile(
    r"(?P<prefix>.*?)manipulated_sequences/(?P<method>[^/]+)/(?P<compression>[^/]+)/videos/"
    r"(?P<target>[^/_]+)_(?P<source>[^/_]+)\.mp4$"
)
FFPP_REAL = re.compile(
    r"(?P<prefix>.*?)original_sequences/(?P<subset>[^/]+)/(?P<compression>[^/]+)/videos/(?P<target>[^/_]+)\.mp4$"
)
LABELS = {"FAKE": 1, "REAL": 0, "1": 1, "0": 0}


@dataclass(frozen=True)
class VideoRecord:
    video_id: str
    path: Path
    label: int | None = None
    original: str | None = None
    part: str = ""
    dataset: str = "folder"
    method: str = ""
    compression: str = ""

    def to_dict(self) -> dict:
        return asdict(self) | {"path": str(self.path)}


class VideoSource:
    """A list of videos under ``root``; subclasses know the layout and the labels."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().resolve()
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: dataset root is not a directory")

    def records(self) -> list[VideoRecord]:
        raise NotImplementedError

    def _record(self, path: Path, **fields) -> VideoRecord:
        video_id = path.relative_to(self.root).as_posix()
        return VideoRecord(video_id=video_id, path=path, **fields)


class DfdcSource(VideoSource):
    """DFDC training parts: ``<root>/dfdc_train_part_<k>/{*.mp4, metadata.json}``, or ``root`` is a single part.

    ``parts`` restricts to some part folders (names or numbers). Videos listed in ``metadata.json`` but absent on disk
    are logged and skipped; videos on disk without a metadata entry get ``label=None``.
    """

    def __init__(self, root: str | Path, parts: Iterable[str | int] | None = None):
        super().__init__(root)
        self.parts = None if parts is None else {_part_name(p) for p in parts}

    def part_dirs(self) -> list[Path]:
        if (self.root / "metadata.json").is_file():
            dirs = [self.root]
        else:
            dirs = sorted(p.parent for p in self.root.glob("*/metadata.json"))
        if self.parts is not None:
            dirs = [d for d in dirs if d.name in self.parts]
        return dirs

    def records(self) -> list[VideoRecord]:
        records: list[VideoRecord] = []
        for part_dir in self.part_dirs():
            meta = read_dfdc_metadata(part_dir / "metadata.json")
            prefix = "" if part_dir == self.root else f"{part_dir.name}/"
            missing = [name for name in meta if not (part_dir / name).is_file()]
            if missing:
                log.warning("%s: %d videos in metadata.json are missing on disk", part_dir, len(missing))
            for path in sorted(_videos(part_dir, recursive=False)):
                entry = meta.get(path.name, {})
                original = entry.get("original")
                records.append(
                    self._record(
                        path,
                        label=LABELS.get(str(entry.get("label", "")).upper()),
                        original=f"{prefix}{original}" if original else None,
                        part=part_dir.name,
                        dataset="dfdc",
                        method="DFDC" if entry.get("label") == "FAKE" else "real",
                        compression=entry.get("split", ""),
                    )
                )
        if not records:
            raise FileNotFoundError(f"{self.root}: no DFDC part with metadata.json and videos found")
        return records


class FFppSource(VideoSource):
    """FaceForensics++: ``manipulated_sequences/<method>/<c>/videos/<target>_<source>.mp4`` are fakes of
    ``original_sequences/youtube/<c>/videos/<target>.mp4``."""

    def records(self) -> list[VideoRecord]:
        records = [r for r in (ffpp_record(self.root, p) for p in sorted(_videos(self.root))) if r is not None]
        if not records:
            raise FileNotFoundError(f"{self.root}: no FaceForensics++ videos found")
        return records


class FolderSource(VideoSource):
    """Any folder of videos, with labels from a CSV (``filename,label[,original]``; label REAL/FAKE or 0/1).

    ``original`` may be a path relative to ``root`` or a bare file name: FF++ names are resolved by the FF++ layout,
    other bare names by a file of that name in the same folder. Paths that follow the FF++ layout get their method
    and compression; DFDC-looking rows keep their part folder. Without a CSV every label is ``None``.
    """

    def __init__(self, root: str | Path, labels: str | Path | None = None):
        super().__init__(root)
        if labels is not None and not Path(labels).is_absolute() and not Path(labels).exists():
            labels = self.root / labels
        self.labels = None if labels is None else Path(labels)
        if self.labels is not None and not self.labels.is_file():
            raise FileNotFoundError(f"{self.labels}: labels CSV not found")

    def records(self) -> list[VideoRecord]:
        rows = read_labels_csv(self.labels) if self.labels else {}
        records = []
        for path in sorted(_videos(self.root)):
            video_id = path.relative_to(self.root).as_posix()
            row = rows.get(video_id, {})
            base = ffpp_record(self.root, path)
            label = LABELS.get(str(row.get("label", "")).strip().upper())
            original = self._resolve_original(path, row.get("original") or None, base)
            if base is not None:
                records.append(VideoRecord(**(base.to_dict() | {"path": path, "label": label, "original": original})))
                continue
            records.append(
                self._record(
                    path,
                    label=label,
                    original=original,
                    part=path.parent.relative_to(self.root).as_posix(),
                    dataset=row.get("dataset") or "folder",
                    method=row.get("method") or {None: "", 0: "real", 1: "fake"}[label],
                )
            )
        if not records:
            raise FileNotFoundError(f"{self.root}: no videos found")
        if absent := sorted(set(rows) - {r.video_id for r in records}):
            log.warning("%s: %d rows name videos not in %s: %s", self.labels, len(absent), self.root, absent[:3])
        return records

    def _resolve_original(self, path: Path, original: str | None, ffpp: VideoRecord | None) -> str | None:
        if ffpp is not None and ffpp.original:
            return ffpp.original
        if not original:
            return None
        if (self.root / original).is_file():
            return Path(original).as_posix()
        sibling = path.parent / Path(original).name
        return sibling.relative_to(self.root).as_posix() if sibling.is_file() else Path(original).name


class FileSource(FolderSource):
    """One video file: its folder is the root, so the ``video_id`` is the file name."""

    def __init__(self, path: str | Path, labels: str | Path | None = None):
        self.file = Path(path).expanduser().resolve()
        if not self.file.is_file():
            raise FileNotFoundError(f"{self.file}: video file not found")
        super().__init__(self.file.parent, labels)

    def records(self) -> list[VideoRecord]:
        rows = read_labels_csv(self.labels) if self.labels else {}
        label = LABELS.get(str(rows.get(self.file.name, {}).get("label", "")).strip().upper())
        return [self._record(self.file, label=label, method={None: "", 0: "real", 1: "fake"}[label])]


def video_source(path: str | Path, labels: str | Path | None = None) -> FolderSource:
    """A folder of videos (searched recursively) or a single video file."""
    return FileSource(path, labels) if Path(path).expanduser().is_file() else FolderSource(path, labels)


def ffpp_record(root: Path, path: Path) -> VideoRecord | None:
    """The record of ``path`` if it follows the FaceForensics++ layout, else ``None``."""
    rel = path.relative_to(root).as_posix()
    if match := FFPP_FAKE.match(rel):
        g = match.groupdict()
        original = f"{g['prefix']}original_sequences/youtube/{g['compression']}/videos/{g['target']}.mp4"
        return VideoRecord(rel, path, 1, original, f"ffpp/{g['compression']}", "ffpp", g["method"], g["compression"])
    if match := FFPP_REAL.match(rel):
        g = match.groupdict()
        return VideoRecord(rel, path, 0, None, f"ffpp/{g['compression']}", "ffpp", "real", g["compression"])
    return None


def read_dfdc_metadata(path: Path) -> dict[str, dict]:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: unreadable DFDC metadata ({exc})") from exc


def read_labels_csv(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or "filename" not in reader.fieldnames or "label" not in reader.fieldnames:
            raise ValueError(f"{path}: labels CSV needs the columns filename,label (got {reader.fieldnames})")
        return {Path(row["filename"]).as_posix(): row for row in reader}


def _videos(folder: Path, recursive: bool = True) -> list[Path]:
    """Every entry with a video suffix: a dangling link or a folder named ``x.mp4`` too, so that it is reported
    (the probe says why it cannot be read) instead of silently left out."""
    pattern = "**/*" if recursive else "*"
    found = [
        p
        for p in folder.glob(pattern)
        if p.suffix.lower() in VIDEO_SUFFIXES and not p.name.startswith(TMP_PREFIX)  # in flight
    ]
    for path in found:
        if not path.is_file():
            log.warning("%s: %s", path, "not a regular file" if path.exists() else "dangling link, file not found")
    return found


def _part_name(part: str | int) -> str:
    return f"dfdc_train_part_{part}" if isinstance(part, int) or str(part).isdigit() else str(part)
