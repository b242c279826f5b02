"""Where the repository is: entry points and Hydra compose calls find ``conf/`` from here, not by relative paths."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = REPO_ROOT / "conf"
