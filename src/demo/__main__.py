"""``make demo`` (``python -m src.demo [quick=true] [work_dir=work] [steps=N] [fresh=true]``): the whole pipeline on
embedded real faces with self-blended fakes.

Builds ``work/demo`` (DFDC layout, see :mod:`src.demo.dataset`), then runs preprocess.py, train.py (tiny model, CPU),
the export, predict.py on held-out videos and the evaluation, and prints the metrics and where everything is.
``quick=true`` is the reduced variant the tests run (fewer training clips and steps).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from src.demo.run import run_demo
from src.utils.cli import parse_args, setting
from src.utils.paths import REPO_ROOT


@dataclass
class DemoSettings:
    work_dir: Path = setting(REPO_ROOT / "work", "outputs go to <work_dir>/demo")
    quick: bool = setting(False, "the reduced variant (tests, CI)")
    steps: int | None = setting(None, "training steps (null: 250)")
    fresh: bool = setting(False, "delete <work_dir>/demo first and rebuild everything")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(DemoSettings, argv, "python -m src.demo", __doc__)
    run_demo(args.work_dir, quick=args.quick, steps=args.steps, fresh=args.fresh)


if __name__ == "__main__":
    main()
