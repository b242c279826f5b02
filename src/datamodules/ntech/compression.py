"""NTechLab's on-the-fly video-compression augmentation (spec ntechlab_detail §3, "Compression augmentation").

With probability ``p`` a clip is re-encoded with libx264 at a random frame rate (30, or 15..29 with p 0.5), scale
(1, or U(0.25, 1) with p 0.5; even sizes), CRF (17..39) and tune, then decoded again; both clips of a pair get the
same parameters. NTech piped PNGs through the ffmpeg CLI (``-vf fps=F,scale=W:H -f h264 -vcodec libx264 -crf C
-tune T``); here the same libavfilter ``fps`` and ``scale`` filters and libx264 run in memory through PyAV (no
subprocess, no temporary files). The pixel format is yuv444p: what libx264 picks for RGB input when none is given.
The ``fps`` filter only drops or repeats frames: its choice is computed once per (length, frame rate) by
:func:`fps_schedule` and applied by indexing, so only the frames a sample needs are read, scaled and encoded (a window
around them, :meth:`VideoCompression.window`).

Not bit-reproducible: the libx264 in PyAV's wheels gives slightly different bytes from run to run for the same
input whenever B-frames and mb-tree are on (x264's defaults, so NTech's settings); ``tune=zerolatency`` is exact.
The parameters (and so which frames survive, and their size) are exact; a few pixel values differ.

A frame-rate change drops frames, so clip frame ``i`` becomes decoded frame ``round(i / n · n_decoded)``
(round-half-even, clipped; :func:`remap_indices`), which duplicates frames at 15 fps as NTech's did. NTech divided
by its fixed clip length 50; dividing by the clip's real length keeps clips cut short at a video's end aligned.
"""

from __future__ import annotations

import functools
import io
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

TUNES = ("film", "animation", "grain", "stillimage", "fastdecode", "zerolatency")


@dataclass(frozen=True)
class CompressionParams:
    fps: int
    scale: float
    crf: int
    tune: str

    def size(self, height: int, width: int) -> tuple[int, int]:
        """Output (height, width): ``round(scale · side) // 2 · 2``, as NTech computed it."""
        return round(self.scale * height) // 2 * 2, round(self.scale * width) // 2 * 2


@dataclass(frozen=True)
class VideoCompression:
    """Random re-encoding of RGB clips; :meth:`sample` draws parameters, :meth:`frames` applies them to the frames
    a sample uses.

    Only a window of the re-encoded clip is encoded: from ``warmup`` re-encoded frames before the first used one (so
    the used frames are predicted from already degraded references, as inside a long clip, not the high-quality
    opening I-frame) to ``lookahead`` frames after the last (x264's B-frames and rate control look ahead).
    ``bench/train_input.py`` measured PSNR and blockiness of the used frames against re-encoding the whole clip
    (``warmup=None``, NTech's way; docs/benchmarks.md).
    """

    p: float = 0.5
    fps_p: float = 0.5
    fps_range: tuple[int, int] = (15, 30)  # randrange: 15..29
    scale_p: float = 0.5
    scale_range: tuple[float, float] = (0.25, 1.0)
    crf_range: tuple[int, int] = (17, 40)  # randrange: 17..39
    tunes: Sequence[str] = TUNES
    pix_fmt: str = "yuv444p"
    preset: str = "medium"
    threads: int = 1  # one encoder thread per data-loader worker
    warmup: int | None = 8  # re-encoded frames before the first used one; None: encode the whole clip
    lookahead: int = 4  # re-encoded frames after the last used one

    def sample(self, rng: np.random.Generator) -> CompressionParams | None:
        """Parameters for one pair, or ``None`` (left uncompressed, probability ``1 - p``)."""
        if rng.random() >= self.p:
            return None
        fps = int(rng.integers(*self.fps_range)) if rng.random() < self.fps_p else 30
        scale = float(rng.uniform(*self.scale_range)) if rng.random() < self.scale_p else 1.0
        crf = int(rng.integers(*self.crf_range))
        return CompressionParams(fps=fps, scale=scale, crf=crf, tune=str(rng.choice(list(self.tunes))))

    def frames(
        self,
        read: Callable[[np.ndarray], np.ndarray],
        num_frames: int,
        indices: np.ndarray,
        params: CompressionParams,
        source_fps: float = 30.0,
    ) -> np.ndarray:
        """Clip frames ``indices`` after re-encoding the clip (``num_frames`` long, at ``source_fps``) with
        ``params``; ``read(sorted unique clip indices)`` gives RGB frames (N, H, W, 3): only the window's are read."""
        schedule = fps_schedule(num_frames, source_fps, params.fps)
        wanted = remap_indices(indices, num_frames, len(schedule))
        first, last = self.window(wanted, len(schedule))
        window = schedule[first : last + 1]
        sources = np.unique(window)
        clip = read(sources)[np.searchsorted(sources, window)]
        return self.encode(clip, params, keep=wanted - first)

    def window(self, wanted: np.ndarray, length: int) -> tuple[int, int]:
        """First and last re-encoded frame to encode for the ``wanted`` ones (inclusive)."""
        if self.warmup is None:
            return 0, length - 1
        return max(0, int(wanted.min()) - self.warmup), min(length - 1, int(wanted.max()) + self.lookahead)

    def __call__(self, frames: np.ndarray, params: CompressionParams, source_fps: float = 30.0) -> np.ndarray:
        """The whole clip (N, H, W, 3) at ``source_fps`` re-encoded with ``params``: every decoded RGB frame."""
        return self.encode(frames[fps_schedule(len(frames), source_fps, params.fps)], params)

    def encode(self, frames: np.ndarray, params: CompressionParams, keep: np.ndarray | None = None) -> np.ndarray:
        """Scale and encode frames already at the target frame rate; the decoded RGB frames (``keep``: only these
        positions, in this order; every frame is decoded, only those are converted to RGB)."""
        height, width = params.size(*frames.shape[1:3])
        if height < 2 or width < 2:
            raise ValueError(f"compression: scale {params.scale} leaves a {width}x{height} frame")
        buffer = io.BytesIO()
        with av.open(buffer, mode="w", format="h264") as container:
            stream = container.add_stream("libx264", rate=params.fps)
            stream.width, stream.height, stream.pix_fmt = width, height, self.pix_fmt
            stream.options = {
                "crf": str(params.crf),
                "tune": params.tune,
                "preset": self.preset,
                "threads": str(self.threads),
            }
            for plane in _scale(frames, width, height, self.pix_fmt):
                container.mux(stream.encode(av.VideoFrame.from_ndarray(plane, format=self.pix_fmt)))
            container.mux(stream.encode())
        wanted = set(range(len(frames)) if keep is None else np.asarray(keep).tolist())
        decoded = {}
        with av.open(io.BytesIO(buffer.getvalue()), format="h264") as container:
            for position, frame in enumerate(container.decode(video=0)):
                if position in wanted:
                    decoded[position] = frame.to_ndarray(format="rgb24").copy()
        return np.stack([decoded[p] for p in (range(len(decoded)) if keep is None else np.asarray(keep).tolist())])


@functools.lru_cache(maxsize=1024)
def fps_schedule(num_frames: int, source_fps: float, fps: int) -> np.ndarray:
    """The clip frame behind each frame of ffmpeg's ``fps=F`` filter output (frames timed at ``source_fps``, as the
    image2 demuxer does, the last one lasting one frame): found by running the filter on tiny frames that carry their
    own index, so it is ffmpeg's rounding exactly. Read-only; both clips of a pair share it."""
    time_base = 1 / Fraction(source_fps).limit_denominator(1001)
    graph = av.filter.Graph()
    chain = [
        graph.add_buffer(width=2, height=2, format="rgb24", time_base=time_base),
        graph.add("fps", str(fps)),
        graph.add("buffersink"),
    ]
    for source, sink in itertools.pairwise(chain):
        source.link_to(sink)
    graph.configure()
    tiny = np.zeros((2, 2, 3), np.uint8)
    out: list[int] = []
    for index in [*range(num_frames), None]:
        if index is not None:
            tiny[0, 0] = (index % 256, index // 256 % 256, index // 65536)
            frame = av.VideoFrame.from_ndarray(tiny, format="rgb24")
            frame.pts, frame.time_base, frame.duration = index, time_base, 1  # duration: fps keeps the last frame
            graph.push(frame)
        else:
            graph.push(None)
        while True:
            try:
                pixel = graph.pull().to_ndarray()[0, 0].astype(np.int64)
            except (av.BlockingIOError, av.EOFError):
                break
            out.append(int(pixel[0] + 256 * pixel[1] + 65536 * pixel[2]))
    schedule = np.asarray(out, np.int64)
    schedule.flags.writeable = False
    return schedule


def _scale(frames: np.ndarray, width: int, height: int, pix_fmt: str) -> list[np.ndarray]:
    """ffmpeg's ``scale=W:H`` into ``pix_fmt``: the planes of every frame, copied out of the graph's pooled
    buffers."""
    graph = av.filter.Graph()
    chain = [
        graph.add_buffer(width=frames.shape[2], height=frames.shape[1], format="rgb24", time_base=Fraction(1, 30)),
        graph.add("scale", f"{width}:{height}"),
        graph.add("format", pix_fmt),
        graph.add("buffersink"),
    ]
    for source, sink in itertools.pairwise(chain):
        source.link_to(sink)
    graph.configure()
    out = []
    for index, image in enumerate([*frames, None]):
        if image is not None:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 30)
            graph.push(frame)
        else:
            graph.push(None)
        while True:
            try:
                out.append(graph.pull().to_ndarray().copy())
            except (av.BlockingIOError, av.EOFError):
                break
    return out


def remap_indices(indices: np.ndarray, source_length: int, decoded_length: int) -> np.ndarray:
    """Clip frame indices → indices into the re-encoded clip (NumPy's round-half-even, as NTech)."""
    scaled = np.round(np.asarray(indices) / source_length * decoded_length).astype(np.int64)
    return np.clip(scaled, 0, decoded_length - 1)
