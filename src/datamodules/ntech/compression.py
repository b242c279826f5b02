"""NTechLab's on-the-fly video-compression augmentation (spec ntechlab_detail §3, "Compression augmentation").

With probability ``p`` a clip is re-encoded with libx264 at a random frame rate (30, or 15..29 with p 0.5), scale
(1, or U(0.25, 1) with p 0.5; even sizes), CRF (17..39) and tune, then decoded again; both clips of a pair get the
same parameters. NTech piped PNGs through the ffmpeg CLI (``-vf fps=F,scale=W:H -f h264 -vcodec libx264 -crf C
-tune T``); here the same libavfilter ``fps`` and ``scale`` filters and libx264 run in memory through PyAV (no
subprocess, no temporary files). The pixel format is yuv444p: what libx264 picks for RGB input when none is given.

Not bit-reproducible: the libx264 in PyAV's wheels gives slightly different bytes from run to run for the same
input whenever B-frames and mb-tree are on (x264's defaults, so NTech's settings); ``tune=zerolatency`` is exact.
The parameters (and so which frames survive, and their size) are exact; a few pixel values differ.

A frame-rate change drops frames, so clip frame ``i`` becomes decoded frame ``round(i / n · n_decoded)``
(round-half-even, clipped; :func:`remap_indices`), which duplicates frames at 15 fps as NTech's did. NTech divided
by its fixed clip length 50; dividing by the clip's real length keeps clips cut short at a video's end aligned.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Sequence
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
    """Random re-encoding of RGB clips; :meth:`sample` draws parameters, :meth:`__call__` applies them."""

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

    def sample(self, rng: np.random.Generator) -> CompressionParams | None:
        """Parameters for one pair, or ``None`` (left uncompressed, probability ``1 - p``)."""
        if rng.random() >= self.p:
            return None
        fps = int(rng.integers(*self.fps_range)) if rng.random() < self.fps_p else 30
        scale = float(rng.uniform(*self.scale_range)) if rng.random() < self.scale_p else 1.0
        crf = int(rng.integers(*self.crf_range))
        return CompressionParams(fps=fps, scale=scale, crf=crf, tune=str(rng.choice(list(self.tunes))))

    def __call__(self, frames: np.ndarray, params: CompressionParams, source_fps: float = 30.0) -> np.ndarray:
        """Encode RGB frames (N, H, W, 3) at ``source_fps`` with ``params``; the decoded RGB frames."""
        height, width = params.size(*frames.shape[1:3])
        if height < 2 or width < 2:
            raise ValueError(f"compression: scale {params.scale} leaves a {width}x{height} frame")
        planes = _filter(frames, source_fps, params.fps, width, height, self.pix_fmt)
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
            for plane in planes:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(plane, format=self.pix_fmt)))
            container.mux(stream.encode())
        with av.open(io.BytesIO(buffer.getvalue()), format="h264") as container:
            return np.stack([f.to_ndarray(format="rgb24").copy() for f in container.decode(video=0)])


def _filter(frames: np.ndarray, source_fps: float, fps: int, width: int, height: int, pix_fmt: str):
    """ffmpeg's ``fps=F,scale=W:H`` over the clip (frames timed at ``source_fps``, as the image2 demuxer does):
    the planes of every output frame, copied out of the graph's pooled buffers."""
    time_base = 1 / Fraction(source_fps).limit_denominator(1001)
    graph = av.filter.Graph()
    chain = [
        graph.add_buffer(width=frames.shape[2], height=frames.shape[1], format="rgb24", time_base=time_base),
        graph.add("fps", str(fps)),
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
            frame.pts, frame.time_base, frame.duration = index, time_base, 1  # duration: fps keeps the last frame
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
