"""Work ahead: iterate in a background thread a few items ahead (decode the next chunk while the current one is
used), or run a function in worker processes (prepare the next videos while the current one is scored)."""

from __future__ import annotations

import multiprocessing
import queue
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, TypeVar

from src.video.io import set_decode_threads

T = TypeVar("T")


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


def prefetched(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """Iterate ``items`` in a background thread, ``depth`` items ahead; its exceptions surface here.

    Stopping early (an exception in the consumer, ``close()``) stops and joins the producer, which closes its
    iterator in its own thread (a video container must be closed by the thread that uses it).
    """
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not put(item):
                    break
        except BaseException as exc:
            put(_Failure(exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
            put(done)

    thread = threading.Thread(target=produce, name="prefetch", daemon=True)
    thread.start()
    try:
        while (item := buffer.get()) is not done:
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()
        thread.join()


class WorkerError(RuntimeError):
    """An exception raised in a worker process, as its one-line message (exception types with their own
    constructors do not always survive pickling; the message is what the batch runner records)."""


_WORKER_FN: Callable[..., Any] | None = None


def _start_worker(fn: Callable[..., Any], threads: int) -> None:
    global _WORKER_FN
    _WORKER_FN = fn
    limit_threads(threads)
    set_decode_threads(threads)  # the workers, not FFmpeg's frame threads, share the cores


def _run_in_worker(*args: Any, **kwargs: Any) -> Any:
    try:
        return _WORKER_FN(*args, **kwargs)  # type: ignore[misc]
    except Exception as exc:
        raise WorkerError(" ".join(str(exc).split()) or type(exc).__name__) from None


def limit_threads(threads: int) -> None:
    """Size this process's compute pools (torch's, OpenCV's) to ``threads``: on a few cores shared by decoding
    workers, an OpenMP pool larger than the free cores collapses (see docs/benchmarks.md)."""
    import cv2

    cv2.setNumThreads(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


class ProcessExecutor:
    """``submit(*args)`` runs ``fn(*args)`` in one of ``workers`` spawned processes; ``fn`` (picklable) is sent once
    per worker, not with every call, and each worker's compute pools get ``threads`` threads."""

    def __init__(self, fn: Callable[..., Any], workers: int, threads: int = 1):
        context = multiprocessing.get_context("spawn")  # fork would copy the parent's OpenMP and CUDA state
        self.pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(fn, threads))

    def submit(self, *args: Any, **kwargs: Any) -> Future:
        return self.pool.submit(_run_in_worker, *args, **kwargs)

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        self.pool.shutdown(wait=wait, cancel_futures=cancel_futures)
