"""The shared command-line convention (``key=value``) and the config helpers every entry point uses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from hydra.errors import InstantiationException
from omegaconf import OmegaConf

from src.utils.cli import parse_args, setting
from src.utils.config import compose_config, missing_keys, one_line


@dataclass
class Settings:
    source: Path = setting(help="what to read")
    strength: float = setting(1.0, "how strong")
    labels: Path | None = setting(None, "optional CSV")
    timeline: list[str] = setting([], "videos to plot")
    quick: bool = setting(False, "the reduced variant")


def test_key_value_arguments_become_a_typed_dataclass():
    args = parse_args(Settings, ["source=a.mp4", "strength=2", "timeline=[x/a.mp4,b.mp4]", "quick=true"], "tool")
    assert args == Settings(Path("a.mp4"), 2.0, None, ["x/a.mp4", "b.mp4"], True)
    assert isinstance(args.source, Path) and parse_args(Settings, ["source=a", "labels=l.csv"], "t").labels == Path(
        "l.csv"
    )
    assert Settings(Path("s")).timeline is not Settings(Path("t")).timeline  # list defaults are not shared


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["source=a", "strenght=2"],
            "tool: unknown key 'strenght'; valid keys: source, strength, labels, timeline, quick",
        ),
        (["source=a", "--strength", "2"], "tool: expected key=value, got '--strength'"),
        (["strength=2"], "tool: set source=... (--help for every key)"),
        (
            ["source=a", "strength=strong"],
            "tool: strength: Value 'strong' of type 'str' could not be converted to Float",
        ),
        (["source=a", "quick=maybe"], "tool: quick: Value 'maybe' is not a valid bool (type str)"),
    ],
)
def test_a_wrong_argument_is_one_line_and_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        parse_args(Settings, argv, "tool")
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_help_lists_every_key_with_its_default(capsys):
    with pytest.raises(SystemExit) as stop:
        parse_args(Settings, ["--help"], "tool", "Does things.")
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("Does things.")
    assert "source=Path  what to read (required)" in out
    assert "strength=float  how strong (default 1.0)" in out
    assert "labels=Path | None  optional CSV (default null)" in out
    assert "quick=bool  the reduced variant (default false)" in out


def test_missing_keys_finds_list_entries_without_resolving_interpolations():
    cfg = OmegaConf.create(
        {
            "data": {"root": "???", "index": "${data.root}/index.parquet"},  # interpolates the missing value
            "paths": {"root_dir": "${hydra:runtime.cwd}"},  # resolvable only inside a Hydra run
            "members": [{"path": "a.yaml"}, {"path": "???"}, "???"],
        }
    )
    assert missing_keys(cfg) == ["data.root", "members[1].path", "members[2]"]
    assert missing_keys(OmegaConf.create({"a": 1, "b": [1, 2]})) == []


def test_one_line_unwraps_hydra_instantiation_errors():
    cause = FileNotFoundError("models/x.yaml: exported model not found")
    wrapped = InstantiationException("Error in call to target 'Ensemble':\nFileNotFoundError(...)\nfull_key: ensemble")
    wrapped.__cause__ = cause
    outer = InstantiationException("Error in call to target 'Outer'")
    outer.__cause__ = wrapped
    assert one_line(outer) == "models/x.yaml: exported model not found"
    assert one_line(ValueError("two\n  lines")) == "two lines"
    assert one_line(KeyError()) == "KeyError"


def test_compose_config_composes_a_group_alone_and_a_primary_config():
    assert compose_config(None, ["+detector=mtcnn"]).detector._target_.endswith("MTCNNDetector")
    assert compose_config("predict", ["videos=v", "ensemble=tiny"]).ensemble.members.seq is not None
