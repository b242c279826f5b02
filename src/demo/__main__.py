"""``make demo`` (``python -m src.demo``): the whole pipeline on embedded real faces with self-blended fakes.

Builds ``work/demo`` (DFDC layout, see :mod:`src.demo.dataset`), then runs preprocess.py, train.py (tiny model, CPU),
the export, predict.py on held-out videos and the evaluation, and prints the metrics and where everything is.
``--quick`` is the reduced variant the tests run (fewer training clips and steps).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from src.demo.run import run_demo
from src.utils.paths import REPO_ROOT


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m src.demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work-dir", type=Path, default=REPO_ROOT / "work", help="outputs go to WORK_DIR/demo")
    parser.add_argument("--quick", action="store_true", help="the reduced variant (tests, CI)")
    parser.add_argument("--steps", type=int, help="training steps (default 250, quick 150)")
    parser.add_argument("--fresh", action="store_true", help="delete WORK_DIR/demo first and rebuild everything")
    args = parser.parse_args(argv)
    run_demo(args.work_dir, quick=args.quick, steps=args.steps, fresh=args.fresh)


if __name__ == "__main__":
    main()
