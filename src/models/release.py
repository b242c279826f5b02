"""Fetch a release's files, verify them, and convert them (``make models ENSEMBLE=selim|robustforensics``).

    python -m src.models.release release=selim [trust_unverified=true] [src=downloads/selim] [out=models]

GitHub release files come over plain HTTPS with the detector weights' downloader
(:func:`src.faces.detectors.weights.fetch`); a Google Drive folder (RobustForensics) through ``gdown``. A file is
accepted only if its sha256 matches ``conf/release/<name>.yaml``; where none is recorded (nobody has published one),
the download needs ``trust_unverified=true`` and the hashes are printed and written to ``<src>/SHA256SUMS`` to be
recorded. Files already present and matching are not fetched again. Then :func:`~src.models.convert.convert_release`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig

from src.faces.detectors.weights import WeightsError, WeightsFile, fetch, sha256sum
from src.models.convert import Release, convert_release, locate, release_of
from src.utils.io import atomic_open

log = logging.getLogger(__name__)


def check_trust(release: Release, trust_unverified: bool) -> None:
    unverified = [r.name for r in release.files if r.sha256 is None]
    if unverified and not trust_unverified:
        named = ", ".join(unverified[:3]) + (", ..." if len(unverified) > 3 else "")
        raise WeightsError(
            f"release={release.name}: its config records no sha256 for {len(unverified)} files ({named}), so the "
            "download cannot be verified; rerun with "
            "trust_unverified=true (make models ARGS=trust_unverified=true) to download anyway and record the hashes"
        )


def download_release(release: Release, dest: str | Path, trust_unverified: bool = False, progress: bool = True) -> Path:
    """Every file of ``release`` in ``dest`` (downloaded unless a verified copy is there); returns ``dest``."""
    dest = Path(dest).expanduser()
    dest.mkdir(parents=True, exist_ok=True)
    check_trust(release, trust_unverified)
    if release.folder_url:
        download_drive_folder(release, dest, progress)
    else:
        for released in release.files:
            fetch(WeightsFile(str(dest / released.file), released.url, released.sha256, detector=release.name),
                  trust_unverified=trust_unverified, progress=progress)  # fmt: skip
    record_hashes(release, dest)
    return dest


def download_drive_folder(release: Release, dest: Path, progress: bool) -> None:
    """The Google Drive folder's files into ``dest`` (gdown), skipped when every file is already there."""
    if all(locate(dest, r) is not None for r in release.files):
        return
    try:
        import gdown
    except ImportError as exc:
        raise WeightsError(
            f"{release.name}: downloading a Google Drive folder needs gdown (pip install -r requirements.txt), or "
            "download it by hand and run python -m src.models.convert"
        ) from exc
    try:
        done = gdown.download_folder(url=release.folder_url, output=str(dest), quiet=not progress, resume=True)
    except Exception as exc:  # gdown raises its own types for quota, permission and network failures
        raise WeightsError(f"{release.folder_url}: download failed ({type(exc).__name__}: {exc})") from exc
    if not done:
        raise WeightsError(f"{release.folder_url}: gdown downloaded nothing (quota exceeded or folder moved?)")


def record_hashes(release: Release, dest: Path) -> None:
    """Check recorded hashes; write every file's sha256 to ``<dest>/SHA256SUMS`` and name the unrecorded ones."""
    lines = []
    for released in release.files:
        path = locate(dest, released)
        if path is None:
            raise WeightsError(f"{dest}: {released.file} missing after the download ({release.homepage})")
        actual = sha256sum(path)
        if released.sha256 and actual != released.sha256.lower():
            raise WeightsError(f"{path}: sha256 {actual} differs from the expected {released.sha256}; delete it")
        if released.sha256 is None:
            print(f"{path}: UNVERIFIED, sha256 {actual}; record it as files.{released.name}.sha256 in the "
                  f"release config (conf/release/{release.name}.yaml)")  # fmt: skip
        lines.append(f"{actual}  {path.relative_to(dest).as_posix()}\n")
    with atomic_open(dest / "SHA256SUMS", "w", encoding="utf-8") as handle:
        handle.writelines(lines)


@hydra.main(version_base="1.3", config_path="../../conf", config_name="models")
def main(cfg: DictConfig) -> None:
    try:
        release = release_of(cfg)
        src = download_release(release, cfg.src, bool(cfg.trust_unverified), bool(cfg.progress))
        written = convert_release(release, src, cfg.out)
    except (OSError, ValueError, KeyError, WeightsError) as exc:
        raise SystemExit(f"models: {' '.join(str(exc).split())}") from None
    print(f"{len(written)} {release.name} models written to {cfg.out}: {', '.join(p.stem for p in written)}")


if __name__ == "__main__":
    main()
