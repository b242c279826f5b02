"""The command-line convention of every tool that is not a Hydra app: ``key=value`` arguments, as Hydra takes them.

A tool declares its settings as a dataclass (names, types, defaults, ``help`` in the field metadata);
:func:`parse_args` reads ``key=value`` items with :meth:`OmegaConf.from_dotlist` (so ``a=null``, ``b=[x,y]`` and
``c.d=1`` work as in Hydra), checks them against the dataclass (an unknown key or a wrong type is one line naming the
valid keys) and returns an instance. ``--help`` prints the keys with their defaults.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from typing import NoReturn, TypeVar

from omegaconf import MISSING, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from src.utils.config import missing_keys, one_line

Settings = TypeVar("Settings")


def setting(default=MISSING, help: str = ""):
    """A dataclass field with a help line; no default (``MISSING``) makes the key mandatory."""
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return dataclasses.field(default=default, metadata={"help": help})


def usage(schema: type, prog: str, description: str = "") -> str:
    lines = [description.strip() or f"usage: {prog} key=value ...", "", "keys:"]
    for field in dataclasses.fields(schema):
        default = "(required)" if field.default is MISSING else f"(default {_show(field)})"
        lines.append(f"  {field.name}={_type_name(field.type)}  {field.metadata.get('help', '')} {default}".rstrip())
    return "\n".join(lines)


def parse_args(schema: type[Settings], argv: Sequence[str] | None, prog: str, description: str = "") -> Settings:
    """``argv`` (default ``sys.argv[1:]``) as a ``schema`` instance; a usage error prints one line and exits 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(arg in ("-h", "--help") for arg in argv):
        print(usage(schema, prog, description))
        raise SystemExit(0)
    valid = ", ".join(f.name for f in dataclasses.fields(schema))
    for arg in argv:
        key = arg.split("=", 1)[0]
        if "=" not in arg or not key:
            _fail(prog, f"expected key=value, got {arg!r}; keys: {valid} (--help for more)")
        if key.split(".", 1)[0] not in {f.name for f in dataclasses.fields(schema)}:
            _fail(prog, f"unknown key {key!r}; valid keys: {valid}")
    try:
        cfg = OmegaConf.merge(OmegaConf.structured(schema), OmegaConf.from_dotlist(argv))
        if missing := missing_keys(cfg):
            _fail(prog, f"set {', '.join(f'{key}=...' for key in missing)} (--help for every key)")
        return OmegaConf.to_object(cfg)
    except OmegaConfBaseException as exc:  # a wrong type: OmegaConf's message names the value and the type
        _fail(prog, f"{exc.full_key}: {str(exc).splitlines()[0]}" if exc.full_key else one_line(exc))


def _fail(prog: str, message: str) -> NoReturn:
    print(f"{prog}: {message}", file=sys.stderr)
    raise SystemExit(2)


def _show(field: dataclasses.Field) -> str:
    value = field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def _type_name(annotation) -> str:
    return str(annotation).replace("typing.", "").replace("pathlib.", "").replace("NoneType", "None")
