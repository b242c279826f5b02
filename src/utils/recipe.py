"""The start-up check of a composed config against its recipe (``conf/recipe/<name>.yaml``).

A recipe is the one home of the values several config groups must share (clip length, detector and tracker of each
stage, the models a seed trained). Groups take them by interpolation; a command-line override of one side breaks
the interpolation, so every entry point calls :func:`check_recipe` before it reads any video and stops with one
line naming both keys. Checks whose keys a config lacks do not apply (e.g. the clip length in ``predict.py``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Literal

from omegaconf import DictConfig, OmegaConf

Stage = Literal["preprocess", "train", "predict"]


def check_recipe(cfg: DictConfig, stage: Stage) -> None:
    """Raise ``SystemExit`` (exit status 1) with one line for the first disagreement in ``cfg``."""
    for problem in disagreements(cfg, stage):
        raise SystemExit(f"config error: {problem}")


def disagreements(cfg: DictConfig, stage: Stage) -> Iterator[str]:
    """One line per value of ``cfg`` that contradicts another (see the module docstring)."""
    recipe = cfg.recipe
    detector = OmegaConf.select(cfg, "detector")
    if stage != "train" and detector is not None:
        wanted = recipe.detectors[stage]
        if wanted is not None and detector.name != wanted:
            yield _differ("detector.name", detector.name, f"recipe.detectors.{stage}", wanted)
        if "weights" in detector and detector.weights is None and not cfg.get("random_init", False):
            yield (
                f"detector.weights=null gives detector {detector.name} random weights, which find no faces; "
                "give its weights file, or add +random_init=true (pipeline tests only)"
            )
    tracker_name = OmegaConf.select(cfg, "ensemble.tracker.name" if stage == "predict" else "tracker.name")
    tracker_key = "ensemble.tracker.name" if stage == "predict" else "tracker.name"
    if recipe.tracker is not None and tracker_name is not None and tracker_name != recipe.tracker:
        yield _differ(tracker_key, tracker_name, "recipe.tracker", recipe.tracker)
    clip_length = OmegaConf.select(cfg, "tracker.clip_length")
    if stage == "preprocess" and None not in (recipe.clip_length, clip_length) and clip_length != recipe.clip_length:
        yield _differ("tracker.clip_length", clip_length, "recipe.clip_length", recipe.clip_length)
    if stage == "train":
        yield from _model_disagreements(cfg)


def _model_disagreements(cfg: DictConfig) -> Iterator[str]:
    recipe, model = cfg.recipe, cfg.model
    if recipe.models is not None and model.name not in recipe.models:
        yield f"model.name={model.name} is not one of recipe.models={list(recipe.models)} (recipe={recipe.name})"
    frames = OmegaConf.select(model, "input.frames")
    if frames is None:
        return
    frames = sorted(int(f) for f in frames)
    seq_length = OmegaConf.select(model, "net.seq_length")
    if seq_length is not None and seq_length != len(frames):
        yield f"model.net.seq_length={seq_length} disagrees with model.input.frames={frames} ({len(frames)} frames)"
    if recipe.clip_length is not None:
        # NTech cut each clip with the box of its middle detection: the training window sits around the middle
        # (within one frame step), inside the clip
        step = min((b - a for a, b in itertools.pairwise(frames)), default=1)
        centre, middle = (frames[0] + frames[-1]) / 2, recipe.clip_length / 2
        if frames[-1] >= recipe.clip_length or abs(centre - middle) > step:
            yield (
                f"model.input.frames={frames} (centred on frame {centre:g}) do not fit the middle of "
                f"recipe.clip_length={recipe.clip_length} clips (frame {middle:g})"
            )


def _differ(key: str, value: object, other_key: str, other: object) -> str:
    return f"{key}={value} disagrees with {other_key}={other}; set one to the other"
