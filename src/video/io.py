"""Video input and output: one reader interface over two decoders, and an H.264 clip writer.

* ``DecordReader`` (default for clip reading): random access by sorted frame indices, one thread.
* ``PyAVReader`` (default for full sequential passes): frame-threaded decoding, 2-3x faster than decord when every
  frame is visited.

Both return RGB ``uint8`` arrays of shape (N, H, W, 3) in *display* orientation: a stream carrying a display matrix
(phone video, rotated fixtures) comes out upright. Both agree on frame count and pixels (tests check this on real
DFDC and FaceForensics++ files). Any failure to read a file raises one :class:`VideoReadError` naming the file and
the cause.
"""

from __future__ import annotations

import abc
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import av
import numpy as np

from src.utils.io import atomic_path

log = logging.getLogger(__name__)
av.logging.set_level(None)

Backend = Literal["auto", "decord", "pyav"]

_DECODE_THREADS = 0  # PyAV decoder threads per video; 0 = FFmpeg's choice (one per core)


def set_decode_threads(threads: int) -> None:
    """PyAV decoder threads per video in this process (0 = FFmpeg's choice). Worker processes that decode one video
    each set 1: FFmpeg's frame threads then only compete with the other workers (``bench/decode_workers.py``)."""
    global _DECODE_THREADS
    if threads < 0:
        raise ValueError(f"decoder threads must be >= 0, got {threads}")
    _DECODE_THREADS = threads


class VideoReadError(RuntimeError):
    """A video file cannot be read; ``str()`` is one line: ``<path>: <cause>``."""

    def __init__(self, path: str | os.PathLike, cause: str):
        self.path = str(path)
        self.cause = cause
        super().__init__(f"{self.path}: {cause}")


@dataclass(frozen=True)
class VideoInfo:
    """What a reader knows about a file. ``width``/``height`` are the upright (display) size."""

    path: str
    num_frames: int
    fps: float
    width: int
    height: int
    rotation: int  # counter-clockwise degrees from the display matrix, normalised to 0, 90, 180 or 270
    codec: str
    pix_fmt: str

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps if self.fps > 0 else 0.0

    def to_dict(self) -> dict:
        return asdict(self) | {"duration": self.duration}

    @classmethod
    def from_dict(cls, data: dict) -> VideoInfo:
        """Inverse of :meth:`to_dict` (as stored in the probe and tracks artifacts)."""
        return cls(**{k: v for k, v in data.items() if k != "duration"})


def probe(path: str | os.PathLike) -> VideoInfo:
    """Open ``path``, check that it is a complete, decodable video and return its properties.

    The frame count is the number of demuxed video packets, checked against the container header, so a truncated
    file is caught here rather than half-way through a decode.
    """
    path = Path(path)
    _check_file(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoReadError(path, "no video stream in the file")
            stream = container.streams.video[0]
            declared = stream.frames
            fps = float(stream.average_rate or stream.guessed_rate or 0)
            packets = sum(1 for packet in container.demux(stream) if packet.size > 0)
        with av.open(str(path)) as container:
            first = next(container.decode(video=0), None)
    except VideoReadError:
        raise
    except (av.FFmpegError, OSError, StopIteration) as exc:
        if cut := mp4_truncation(path):
            raise VideoReadError(path, cut) from exc
        raise VideoReadError(path, f"not a readable video ({_describe(exc)})") from exc
    if first is None or packets == 0:
        raise VideoReadError(path, "no decodable video frames")
    if declared and packets < declared:
        raise VideoReadError(path, f"truncated: the header declares {declared} frames, only {packets} are present")
    if fps <= 0:
        raise VideoReadError(path, "no frame rate in the stream header")
    rotation = round(first.rotation or 0) % 360
    if rotation not in (0, 90, 180, 270):
        raise VideoReadError(path, f"unsupported display rotation {first.rotation} degrees")
    width, height = first.width, first.height
    if rotation in (90, 270):
        width, height = height, width
    return VideoInfo(
        path=str(path),
        num_frames=packets,
        fps=fps,
        width=width,
        height=height,
        rotation=rotation,
        codec=stream.codec_context.name,
        pix_fmt=first.format.name,
    )


class VideoReader(abc.ABC):
    """Frames of one video by sorted indices, by stride, or in chunks; RGB uint8, upright."""

    def __init__(self, path: str | os.PathLike, info: VideoInfo | None = None):
        self.path = Path(path)
        self.info = info if info is not None else probe(self.path)

    def __len__(self) -> int:
        return self.info.num_frames

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:  # noqa: B027 - a reader without resources needs no cleanup
        pass

    def read(self, indices: Sequence[int]) -> np.ndarray:
        """Frames at ``indices`` (non-decreasing; repeats allowed) as an (N, H, W, 3) uint8 array."""
        idx = self._validate(indices)
        if idx.size == 0:
            return np.empty((0, self.info.height, self.info.width, 3), np.uint8)
        unique, inverse = np.unique(idx, return_inverse=True)
        frames = self._read_unique(unique)
        return frames if unique.size == idx.size else frames[inverse]

    def read_stride(self, step: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Every ``step``-th frame from ``start`` (inclusive) to ``stop`` (exclusive)."""
        if step < 1:
            raise ValueError(f"step must be >= 1, got {step}")
        stop = self.info.num_frames if stop is None else min(stop, self.info.num_frames)
        return self.read(range(start, stop, step))

    def iter_chunks(
        self, chunk_size: int = 64, indices: Sequence[int] | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(indices, frames)`` chunks of at most ``chunk_size`` frames; memory stays bounded by one chunk."""
        idx = self._validate(range(self.info.num_frames) if indices is None else indices)
        for begin in range(0, idx.size, chunk_size):
            chunk = idx[begin : begin + chunk_size]
            yield chunk, self.read(chunk)

    def iter_chunk_lists(
        self, chunk_size: int = 64, indices: Sequence[int] | None = None
    ) -> Iterator[tuple[np.ndarray, list[np.ndarray]]]:
        """Like :meth:`iter_chunks`, each chunk's frames as a list of (H, W, 3) arrays: what the decoder made, not
        copied into one array (PyAV: that copy cost a quarter of the decoding time; docs/benchmarks.md)."""
        for chunk, frames in self.iter_chunks(chunk_size, indices):
            yield chunk, list(frames)

    @abc.abstractmethod
    def _read_unique(self, indices: np.ndarray) -> np.ndarray:
        """Frames at strictly increasing, in-range ``indices``."""

    def _validate(self, indices: Sequence[int]) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= self.info.num_frames):
            raise IndexError(
                f"{self.path}: frame indices must lie in [0, {self.info.num_frames}), got {idx.min()}..{idx.max()}"
            )
        if idx.size > 1 and np.any(np.diff(idx) < 0):
            raise ValueError(f"{self.path}: frame indices must be sorted (unsorted random access is 5x slower)")
        return idx

    def _upright(self, frame: np.ndarray) -> np.ndarray:
        # The display matrix rotates counter-clockwise; np.rot90 with positive k does the same (copied: OpenCV and
        # torch.from_numpy want C-contiguous frames).
        return np.ascontiguousarray(np.rot90(frame, k=self.info.rotation // 90)) if self.info.rotation else frame


class PyAVReader(VideoReader):
    """Sequential decoding with FFmpeg frame threads: the fast path when most frames are needed."""

    def __init__(self, path: str | os.PathLike, info: VideoInfo | None = None, thread_type: str = "AUTO"):
        super().__init__(path, info)
        self.thread_type = thread_type

    def iter_chunks(
        self, chunk_size: int = 64, indices: Sequence[int] | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for chunk, frames in self.iter_chunk_lists(chunk_size, indices):
            yield chunk, np.stack(frames)

    def iter_chunk_lists(
        self, chunk_size: int = 64, indices: Sequence[int] | None = None
    ) -> Iterator[tuple[np.ndarray, list[np.ndarray]]]:
        # One decoding pass for the whole request, instead of one pass per chunk; a repeated index repeats the frame.
        idx = self._validate(range(self.info.num_frames) if indices is None else indices)
        unique = np.unique(idx)
        decoded = zip(unique.tolist(), self._decode(unique), strict=True)
        position, frame = -1, None
        for begin in range(0, idx.size, chunk_size):
            chunk = idx[begin : begin + chunk_size]
            frames = []
            for wanted in chunk.tolist():
                while position < wanted:
                    position, frame = next(decoded)
                frames.append(frame)
            yield chunk, frames

    def _read_unique(self, indices: np.ndarray) -> np.ndarray:
        out = np.empty((indices.size, self.info.height, self.info.width, 3), np.uint8)
        for slot, frame in enumerate(self._decode(indices)):
            out[slot] = frame
        return out

    def _decode(self, indices: np.ndarray) -> Iterator[np.ndarray]:
        """Upright frames at strictly increasing ``indices``, decoded in one sequential pass."""
        if indices.size == 0:
            return
        wanted = iter(indices.tolist())
        target = next(wanted)
        try:
            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                stream.thread_type = self.thread_type
                if _DECODE_THREADS:
                    stream.thread_count = _DECODE_THREADS
                for frame_index, frame in enumerate(container.decode(stream)):
                    if frame_index < target:
                        continue
                    yield self._upright(frame.to_ndarray(format="rgb24"))
                    target = next(wanted, None)
                    if target is None:
                        return
        except av.FFmpegError as exc:
            raise VideoReadError(self.path, f"decoding failed at frame {target} ({_describe(exc)})") from exc
        raise VideoReadError(self.path, f"stream ended before frame {target} of {self.info.num_frames}")


class DecordReader(VideoReader):
    """Random access by sorted indices with decord (one thread, as decord is fastest that way for clips).

    decord 0.6.0 garbles 90/270-degree display rotation and a few frame widths (16, 48, ...: it returns 4- or
    6-channel arrays of the wrong size; 180 degrees it handles), so such files are decoded by PyAV instead, which a
    warning says once per file.
    """

    def __init__(self, path: str | os.PathLike, info: VideoInfo | None = None, num_threads: int = 1):
        super().__init__(path, info)
        self._fallback: PyAVReader | None = None
        self._reader = None
        if self.info.rotation in (90, 270):
            log.warning("%s: decord cannot apply a %d-degree rotation; decoding with PyAV", path, self.info.rotation)
            self._fallback = PyAVReader(path, self.info)
            return
        import decord

        try:
            self._reader = decord.VideoReader(str(self.path), num_threads=num_threads)
        except (RuntimeError, decord.DECORDError) as exc:
            raise VideoReadError(self.path, f"decord cannot open the file ({_describe(exc)})") from exc
        if len(self._reader) != self.info.num_frames:
            raise VideoReadError(
                self.path, f"decord sees {len(self._reader)} frames, the container has {self.info.num_frames}"
            )

    def close(self) -> None:
        self._reader = None

    def _read_unique(self, indices: np.ndarray) -> np.ndarray:
        if self._fallback is not None:
            return self._fallback._read_unique(indices)
        if self._reader is None:
            raise VideoReadError(self.path, "reader is closed")
        expected = (self.info.height, self.info.width, 3)
        try:
            frames = self._reader.get_batch(indices.tolist()).asnumpy()
        except Exception as exc:  # decord raises its own DECORDError or RuntimeError from C++
            single = self._reader[int(indices[0])].shape
            if tuple(single) == expected:
                raise VideoReadError(self.path, f"decord failed to decode frames ({_describe(exc)})") from exc
            # decord 0.6.0 mis-sizes some frame widths (16, 48, ...): its arrays come out with 4 or 6 channels.
            log.warning("%s: decord returns %s frames instead of %s; decoding with PyAV", self.path, single, expected)
            self._fallback = PyAVReader(self.path, self.info)
            return self._fallback._read_unique(indices)
        # decord applies a 180-degree display rotation itself; nothing else is left to undo.
        return frames


READERS: dict[str, type[VideoReader]] = {"decord": DecordReader, "pyav": PyAVReader}


def open_video(path: str | os.PathLike, backend: Backend = "auto", info: VideoInfo | None = None) -> VideoReader:
    """A reader for ``path``. ``auto`` picks decord (random access); ask for ``pyav`` for full sequential passes."""
    name = "decord" if backend == "auto" else backend
    if name not in READERS:
        raise ValueError(f"unknown video backend {backend!r}; choose one of auto, {', '.join(READERS)}")
    return READERS[name](path, info)


class VideoWriter:
    """H.264 writer (PyAV/libx264) for face clips and fixtures; the file appears only when ``close()`` succeeds.

    ``crf=0`` with ``pix_fmt='yuv444p'`` is mathematically lossless in YUV; the RGB round trip then differs only by
    colour conversion rounding. ``rotation`` writes a display matrix (used for test fixtures).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float,
        crf: int = 10,
        pix_fmt: str = "yuv444p",
        preset: str = "medium",
        tune: str | None = None,
        rotation: int = 0,
        keyint: int | None = None,
        codec: str = "libx264",
    ):
        self.path = Path(path)
        self.codec = codec  # libx264rgb (pix_fmt rgb24, crf 0): lossless in RGB
        self.fps = fps
        self.options = {"crf": str(crf), "preset": preset} | ({"tune": tune} if tune else {})
        if keyint:
            self.options["g"] = str(keyint)
        self.pix_fmt = pix_fmt
        self.rotation = rotation
        self._atomic = atomic_path(self.path)
        self._tmp = self._atomic.__enter__()
        self._container = av.open(str(self._tmp), mode="w", format="mp4", options={"movflags": "+faststart"})
        self._stream = None
        self.frames_written = 0

    def write(self, frames: np.ndarray) -> None:
        """Append one RGB frame (H, W, 3) or a batch (N, H, W, 3); all frames must share one size."""
        frames = np.asarray(frames)
        if frames.ndim == 3:
            frames = frames[None]
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"{self.path}: expected uint8 frames (N, H, W, 3), got {frames.dtype} {frames.shape}")
        if self._stream is None:
            self._open_stream(height=frames.shape[1], width=frames.shape[2])
        if frames.shape[1:3] != (self._stream.height, self._stream.width):
            raise ValueError(f"{self.path}: frame size {frames.shape[1:3]} differs from the clip's first frame")
        for frame in frames:
            self._container.mux(self._stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            self.frames_written += 1

    def close(self) -> None:
        if self._stream is None:
            self._abort()
            raise ValueError(f"{self.path}: no frames were written")
        self._container.mux(self._stream.encode())
        self._container.close()
        self._atomic.__exit__(None, None, None)

    def _abort(self) -> None:
        self._container.close()
        self._atomic.__exit__(RuntimeError, RuntimeError("aborted"), None)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abort()

    def _open_stream(self, height: int, width: int) -> None:
        if self.pix_fmt == "yuv420p" and (height % 2 or width % 2):
            raise ValueError(f"{self.path}: yuv420p needs even frame sizes, got {width}x{height}")
        from fractions import Fraction

        stream = self._container.add_stream(self.codec, rate=Fraction(self.fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = width, height, self.pix_fmt
        stream.options = self.options
        if self.rotation:
            stream.set_display_rotation(self.rotation)
        self._stream = stream


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float, **writer_options) -> Path:
    """Write a whole (N, H, W, 3) RGB array as one H.264 file; see :class:`VideoWriter` for the options."""
    with VideoWriter(path, fps, **writer_options) as writer:
        writer.write(frames)
    return Path(path)


def _check_file(path: Path) -> None:
    if not path.exists():
        raise VideoReadError(path, "file not found")
    if not path.is_file():
        raise VideoReadError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise VideoReadError(path, "empty file (0 bytes)")


def mp4_truncation(path: Path) -> str | None:
    """Why an MP4 file is cut short (a top-level box running past the end, or no ``moov`` index), or None.

    FFmpeg reports such files only as "invalid data" (DFDC's files keep their index at the end), so the box layout
    is read here: a few header reads, never the media data."""
    size = path.stat().st_size
    boxes, offset = [], 0
    with open(path, "rb") as handle:
        while offset + 8 <= size:
            handle.seek(offset)
            header = handle.read(16)
            length, kind = int.from_bytes(header[:4], "big"), header[4:8].decode("latin-1")
            if length == 1 and len(header) == 16:
                length = int.from_bytes(header[8:16], "big")
            elif length == 0:
                length = size - offset
            if length < 8 or not (kind.isascii() and kind.isprintable()) or (offset == 0 and kind != "ftyp"):
                return None  # not an MP4, or garbage: not a file cut short
            boxes.append(kind)
            if offset + length > size:
                return (
                    f"truncated MP4: the file ends at {size} bytes, {100 * size / (offset + length):.0f}% of the "
                    f"'{kind}' box that starts at {offset}"
                    + ("" if "moov" in boxes else " (its moov index, stored at the end, is lost)")
                )
            offset += length
    if boxes[:1] == ["ftyp"] and "moov" not in boxes:
        return "truncated MP4: the file ends before its moov index"
    return None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip()
