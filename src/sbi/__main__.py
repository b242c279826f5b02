"""``python -m src.sbi source=IN target=OUT [strength=1.0 seed=0 detect_every=2 crf=18 device=cpu labels=...]``

``source`` a real video: ``target`` is its self-blended fake (.mp4, same frames and fps). ``source`` a folder of real
videos: ``target`` becomes a dataset for ``data=folder`` (``real/`` links, ``fake/``, ``labels.csv``); ``labels`` (a
CSV of the folder) keeps only its REAL videos. Outputs are written atomically; a folder run resumes.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from src.faces.detectors.compose import compose_detector
from src.sbi.blend import video_params
from src.sbi.dataset import fake_folder
from src.sbi.video import fake_video
from src.utils.cli import parse_args, setting
from src.utils.config import one_line


@dataclass
class SbiSettings:
    source: Path = setting(help="a real video, or a folder of them")
    target: Path = setting(help="its fake (.mp4), or the dataset folder to write")
    strength: float = setting(1.0, "scale of every perturbation (the demo uses 2)")
    seed: int = setting(0, "with the file name, fixes the blend parameters")
    detect_every: int = setting(2, "detect faces on every n-th frame")
    crf: int = setting(18, "H.264 quality of the fake (lower is better)")
    device: str = setting("cpu", "detector device: cpu, cuda, auto")
    labels: Path | None = setting(None, "folder mode: a labels CSV; only its REAL videos are used")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(SbiSettings, argv, "python -m src.sbi", __doc__)
    if args.source.is_dir():
        try:
            detector = compose_detector(device=args.device)
            done, failed = fake_folder(
                args.source, args.target, detector, args.strength, args.seed, args.detect_every, args.crf, args.labels
            )
        except (OSError, ValueError) as exc:
            print(f"sbi: {one_line(exc)}", file=sys.stderr)
            return 2
        print(
            f"wrote {args.target}: {len(done)} real/fake pairs, {len(failed)} failed (listed above); "
            f"labels {args.target / 'labels.csv'}"
        )
        print(f"next: python preprocess.py data=folder data.root={args.target} data.labels=labels.csv")
        return 1 if failed else 0
    if not args.source.is_file():
        print(f"sbi: {args.source}: no such video", file=sys.stderr)
        return 2
    params = video_params(args.seed, args.source.name, args.strength)
    try:
        detector = compose_detector(device=args.device)
        faces = fake_video(args.source, args.target, detector, params, args.detect_every, args.crf)
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"sbi: {one_line(exc)}", file=sys.stderr)
        return 1
    print(f"wrote {args.target}: {int(faces.found.sum())} frames blended; parameters {params.to_dict()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
