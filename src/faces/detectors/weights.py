"""Detector weight files: where they live, how they are fetched and verified, how they are loaded.

Every detector config names its file as ``weights: {path, url, sha256}``. Nothing downloads at run time: a missing
file stops with one line naming the file and the command that fetches it::

    make weights DETECTOR=retinaface_mnet   (then DETECTOR=dsfd, ...)
    python -m src.faces.detectors.weights detector=dsfd            # one detector, Hydra overrides allowed

A download is accepted only if its sha256 matches the config. Where the config records none (a file whose public
copy nobody has hashed for this project yet), the downloader refuses unless ``+trust_unverified=true`` is given; it
then prints the hash to record. Google Drive links (the upstream homes of ``Resnet50_Final.pth`` and
``WIDERFace_DSFD_RES152.pth``) go through Drive's "file too large to scan" confirmation page.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import IO, Any

import hydra
import torch
from omegaconf import DictConfig, OmegaConf
from timm.models import clean_state_dict
from tqdm.auto import tqdm

from src.utils.io import atomic_path
from src.utils.weights import CHUNK, WeightsError, read_weights, sha256sum

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WeightsFile:
    """A detector's checkpoint: local ``path``, public ``url`` (+ ``mirrors``) and expected ``sha256`` (or None)."""

    path: str
    url: str | None = None
    sha256: str | None = None
    mirrors: tuple[str, ...] = field(default_factory=tuple)
    detector: str = "<detector>"  # the conf/detector/ name, for the fetch hint in error messages

    @classmethod
    def of(cls, spec: WeightsFile | dict[str, Any] | Any, detector: str) -> WeightsFile:
        if isinstance(spec, WeightsFile):
            return spec
        values = dict(spec)
        values["mirrors"] = tuple(values.get("mirrors") or ())
        return cls(**values, detector=detector)

    @property
    def fetch_command(self) -> str:
        return f"make weights DETECTOR={self.detector}"

    def require(self) -> Path:
        """The local file, or one clear error saying how to get it."""
        path = Path(self.path)
        if not path.is_file():
            source = f" (source: {self.url})" if self.url else ""
            raise WeightsError(
                f"{path}: {self.detector} weights not found; fetch them with `{self.fetch_command}`{source}"
            )
        return path

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "url": self.url, "sha256": self.sha256}


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A checked state dict from ``path`` (:func:`~src.utils.weights.read_weights`), without DataParallel's or
    torch.compile's key prefixes (timm's ``clean_state_dict``)."""
    return clean_state_dict(read_weights(path))


def fetch(weights: WeightsFile, trust_unverified: bool = False, progress: bool = True) -> Path:
    """Download ``weights`` (unless a verified copy is already there) and return its path."""
    target = Path(weights.path)
    if target.is_file():
        actual = sha256sum(target)
        if weights.sha256 is None or actual == weights.sha256:
            log.info("%s: present (sha256 %s)", target, actual)
            return target
        raise WeightsError(
            f"{target}: sha256 {actual} differs from the expected {weights.sha256}; delete it and fetch again"
        )
    if not weights.url:
        raise WeightsError(f"{target}: the {weights.detector} config names no download URL; put the file there by hand")
    if weights.sha256 is None and not trust_unverified:
        raise WeightsError(
            f"{target}: conf/detector/{weights.detector}.yaml records no sha256 for {weights.url}, so the download "
            "cannot be verified; rerun with +trust_unverified=true (make weights ARGS=+trust_unverified=true) to "
            "download it anyway and print its hash"
        )
    errors = []
    for url in (weights.url, *weights.mirrors):
        try:
            actual = _download(url, target, weights.sha256, progress)
        except (OSError, WeightsError) as exc:
            errors.append(f"{url}: {exc}")
            log.warning("%s: download failed: %s", url, exc)
            continue
        if weights.sha256 is None:
            print(f"{target}: downloaded UNVERIFIED, sha256 {actual}; record it as weights.sha256 in the config")
        return target
    raise WeightsError(f"{target}: every source failed: " + " | ".join(errors))


def _download(url: str, target: Path, expected: str | None, progress: bool) -> str:
    response = _open_following_drive_confirmation(url)
    digest = hashlib.sha256()
    total = int(response.headers.get("Content-Length") or 0) or None
    with (
        response,
        atomic_path(target) as tmp,
        open(tmp, "wb") as out,
        tqdm(total=total, unit="B", unit_scale=True, desc=target.name, disable=not progress) as bar,
    ):
        first = response.read(CHUNK)
        if _looks_like_html(first):
            raise WeightsError("the server sent a web page instead of the file (quota exceeded or link moved?)")
        block = first
        while block:
            out.write(block)
            digest.update(block)
            bar.update(len(block))
            block = response.read(CHUNK)
        actual = digest.hexdigest()
        if expected is not None and actual != expected:
            raise WeightsError(f"sha256 {actual} differs from the expected {expected}; the file was not kept")
    return actual


def _open_following_drive_confirmation(url: str) -> IO[bytes]:
    """Open ``url``; if it answers with Google Drive's virus-scan warning page, submit its confirmation form."""
    response = urllib.request.urlopen(url, timeout=60)
    head = response.peek(4096) if hasattr(response, "peek") else b""
    if not _looks_like_html(head):
        return response
    page = response.read().decode("utf-8", errors="replace")
    response.close()
    confirmed = drive_confirmation_url(page, url)
    if confirmed is None:
        raise WeightsError("the server sent a web page without a download confirmation form")
    log.info("%s: following the download confirmation to %s", url, confirmed)
    return urllib.request.urlopen(confirmed, timeout=60)


def drive_confirmation_url(page: str, url: str) -> str | None:
    """The URL behind Google Drive's "download anyway" button: the form's action with its hidden fields, or the
    older ``confirm=<token>`` link; None if the page has neither."""
    form = _DownloadForm()
    form.feed(page)
    if form.action:
        query = urllib.parse.urlencode(form.fields)
        return f"{form.action}{'&' if '?' in form.action else '?'}{query}" if query else form.action
    token = re.search(r"confirm=([0-9A-Za-z_-]+)", page)
    if token:
        return f"{url}{'&' if '?' in url else '?'}confirm={token.group(1)}"
    return None


class _DownloadForm(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form" and values.get("id") == "download-form":
            self.action, self._inside = values.get("action"), True
        elif tag == "input" and self._inside and values.get("type") == "hidden" and values.get("name"):
            self.fields[values["name"]] = values.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._inside = False


def _looks_like_html(data: bytes) -> bool:
    start = data.lstrip()[:15].lower()
    return start.startswith((b"<!doctype html", b"<html"))


@hydra.main(version_base="1.3", config_path="../../../conf", config_name="preprocess")
def main(cfg: DictConfig) -> None:
    """Fetch the weights of ``detector=<name>`` (``+trust_unverified=true`` accepts a file without a recorded hash)."""
    spec = cfg.detector.get("weights")
    if spec is None:
        print(f"{cfg.detector.name}: its weights ship inside its package; nothing to fetch")
        return
    weights = WeightsFile.of(OmegaConf.to_container(spec, resolve=True), cfg.detector.name)
    try:
        print(f"{fetch(weights, trust_unverified=bool(cfg.get('trust_unverified', False)))}: ok")
    except WeightsError as exc:
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
