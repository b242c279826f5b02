"""SIGTERM handled like Ctrl-C: Slurm time limits, ``timeout`` and ``docker stop`` send it, and a batch job must
then leave what it finished (and its reports) in place exactly as after Ctrl-C, then stop with one line."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the main thread is, so every ``finally`` (reports, submission) runs."""


def _raise_terminated(signum: int, frame) -> None:
    raise Terminated("SIGTERM")


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def interrupted(what: str, exc: KeyboardInterrupt) -> str:
    """The one line an interrupted entry point exits with."""
    cause = "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C"
    return f"{what}: interrupted ({cause}); finished work is kept, rerun the same command to go on"
