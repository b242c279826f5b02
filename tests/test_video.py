"""VideoReader / VideoWriter on real DFDC and FF++ files, rotated fixtures and every kind of bad input."""

from __future__ import annotations

import numpy as np
import pytest

from src.video.io import (
    DecordReader,
    PyAVReader,
    VideoReadError,
    VideoWriter,
    open_video,
    probe,
    write_video,
)
from tests.helpers import REALVIDEO_IDS, require_realvideos, synthetic_frames

PORTRAIT = {"dfdc/brtujopkby.mp4", "dfdc/yhffcuhhjy.mp4"}


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize("video_id", REALVIDEO_IDS)
def test_backends_agree_on_real_video(video_id):
    root = require_realvideos()
    path = root / video_id
    info = probe(path)
    rng = np.random.default_rng(len(video_id))
    indices = np.sort(rng.choice(info.num_frames, size=5, replace=False))
    indices = np.unique(np.concatenate([[0], indices, [info.num_frames - 1]]))
    with DecordReader(path, info) as dec, PyAVReader(path, info) as pav:
        assert len(dec) == len(pav) == info.num_frames
        a, b = dec.read(indices), pav.read(indices)
    assert a.shape == b.shape == (len(indices), info.height, info.width, 3)
    assert np.array_equal(a, b), f"{video_id}: pixels differ between decord and PyAV"
    # PyAV reached the last frame by decoding the whole stream: both backends count the same frames.
    if video_id in PORTRAIT:
        assert info.height > info.width, f"{video_id} should be portrait, got {info.width}x{info.height}"


@pytest.mark.realdata
def test_manifest_sizes_match_probe(manifest):
    root = require_realvideos()
    for row in manifest:
        info = probe(root / row["filename"])
        assert (info.width, info.height) == (int(row["width"]), int(row["height"])), row["filename"]
        assert info.num_frames == int(row["frames"]), row["filename"]


def _upright_pattern(height: int = 64, width: int = 96) -> np.ndarray:
    """An asymmetric picture: any wrong rotation or flip changes it."""
    img = np.zeros((height, width, 3), np.uint8)
    img[..., 1] = np.linspace(0, 250, width, dtype=np.uint8)[None, :]
    img[:16, :24, 0] = 255  # red block top-left
    img[-12:, -8:, 2] = 255  # blue block bottom-right
    return img


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_display_rotation_comes_out_upright(tmp_path, rotation, backend):
    upright = _upright_pattern()
    coded = np.rot90(upright, k=-(rotation // 90))  # what a rotated camera stores
    path = write_video(tmp_path / "rot.mp4", np.stack([coded] * 8), fps=25, crf=0, rotation=rotation)
    info = probe(path)
    assert info.rotation == rotation
    assert (info.height, info.width) == upright.shape[:2]
    with open_video(path, backend) as reader:
        frames = reader.read([0, 3, 7])
        (_, listed), *_ = reader.iter_chunk_lists(4, [0, 3, 7])
    assert frames.shape == (3, *upright.shape)
    assert np.abs(frames.astype(int) - upright).mean() < 2.0
    assert all(f.flags.c_contiguous for f in listed)  # OpenCV and torch.from_numpy get plain frames
    assert np.array_equal(np.stack(listed), frames)


def test_read_modes_agree(tmp_path):
    frames = synthetic_frames(40, 64, 80)
    path = write_video(tmp_path / "clip.mp4", frames, fps=30, crf=0)
    with open_video(path, "decord") as dec, open_video(path, "pyav") as pav:
        by_stride = dec.read_stride(3, start=2, stop=30)
        assert np.array_equal(by_stride, pav.read(range(2, 30, 3)))
        chunks = list(pav.iter_chunks(chunk_size=16))
        assert [len(i) for i, _ in chunks] == [16, 16, 8]
        assert np.array_equal(np.concatenate([f for _, f in chunks]), dec.read(range(40)))
        wanted = [1, 1, 2, 5, 5, 5, 9, 39]
        chunked = np.concatenate([f for _, f in pav.iter_chunks(chunk_size=3, indices=wanted)])
        assert np.array_equal(chunked, dec.read(wanted))
        for reader in (dec, pav):  # the same frames as lists, one (H, W, 3) array per index, repeats included
            listed = list(reader.iter_chunk_lists(chunk_size=3, indices=wanted))
            assert [i.tolist() for i, _ in listed] == [[1, 1, 2], [5, 5, 5], [9, 39]]
            assert all(isinstance(f, list) for _, f in listed)
            assert np.array_equal(np.stack([f for _, fs in listed for f in fs]), chunked)
        repeated = dec.read([5, 5, 6])
        assert np.array_equal(repeated[0], repeated[1])
        with pytest.raises(ValueError, match="sorted"):
            dec.read([7, 3])
        with pytest.raises(IndexError):
            pav.read([40])
    assert np.abs(by_stride.astype(int) - frames[2:30:3]).mean() < 2.0


def test_writer_is_atomic_and_checks_sizes(tmp_path):
    target = tmp_path / "clip.mp4"
    with pytest.raises(RuntimeError), VideoWriter(target, fps=25) as writer:
        writer.write(synthetic_frames(3, 32, 32))
        raise RuntimeError("killed mid-clip")
    assert not target.exists() and not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="differs"), VideoWriter(target, fps=25) as writer:
        writer.write(synthetic_frames(2, 32, 32))
        writer.write(synthetic_frames(1, 32, 40))
    assert not target.exists()


@pytest.mark.parametrize("crf", [0, 18])
def test_writer_round_trip_quality(tmp_path, crf):
    frames = synthetic_frames(12, 72, 72)
    path = write_video(tmp_path / "c.mp4", frames, fps=30, crf=crf)
    with open_video(path) as reader:
        back = reader.read(range(12))
    mad = np.abs(back.astype(int) - frames).mean()
    assert mad < (1.0 if crf == 0 else 3.0), mad


# --- bad input: one VideoReadError naming the file and the cause, for each backend ---------------------------------


def _truncated_real(tmp_path):
    root = require_realvideos()
    data = (root / "dfdc" / "abofeumbvv.mp4").read_bytes()
    path = tmp_path / "truncated_real.mp4"
    path.write_bytes(data[: len(data) // 2])
    return path


def _truncated_faststart(tmp_path):
    full = write_video(tmp_path / "full.mp4", synthetic_frames(60, 96, 128), fps=30, crf=18)
    data = full.read_bytes()
    path = tmp_path / "truncated_faststart.mp4"
    path.write_bytes(data[: len(data) // 2])
    return path


def _write(name: str, content: bytes | None):
    def make(tmp_path):
        path = tmp_path / name
        if content is None:
            path.mkdir()
        else:
            path.write_bytes(content)
        return path

    return make


BAD_INPUTS = {
    "missing": (lambda tmp_path: tmp_path / "nope.mp4", "not found"),
    "empty": (_write("empty.mp4", b""), "empty"),
    "text": (_write("notes.mp4", b"not a video\n"), "not a readable video"),
    "directory": (_write("dir.mp4", None), "not a regular file"),
    "truncated_half_real": (_truncated_real, "truncated"),
    "truncated_half_faststart": (_truncated_faststart, "truncated"),
}


@pytest.mark.parametrize("backend", ["decord", "pyav"])
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_raises_one_clear_error(tmp_path, case, backend):
    make, cause = BAD_INPUTS[case]
    path = make(tmp_path)
    with pytest.raises(VideoReadError) as err:
        open_video(path, backend).read([0])
    message = str(err.value)
    assert str(path) in message and cause in message
    assert "\n" not in message


def _decoder_threads() -> int:
    from src.video import io

    return io._DECODE_THREADS


def test_worker_processes_decode_with_one_thread_each(tmp_path):
    """Preparing workers already use every core: their decoders run one FFmpeg thread each (same frames)."""
    from src.video.io import set_decode_threads
    from src.video.prefetch import ProcessExecutor

    pool = ProcessExecutor(_decoder_threads, workers=1)
    try:
        assert pool.submit().result() == 1
    finally:
        pool.shutdown()
    path = write_video(tmp_path / "clip.mp4", synthetic_frames(12, 48, 64), fps=25)
    with PyAVReader(path) as reader:
        default = reader.read(range(12))
        set_decode_threads(1)
        try:
            assert np.array_equal(reader.read(range(12)), default)
        finally:
            set_decode_threads(0)
    with pytest.raises(ValueError, match="decoder threads"):
        set_decode_threads(-1)
