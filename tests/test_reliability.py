"""Reliability at cluster scale (issue 15, docs/reliability.md): settings-aware resume, shard-safe temporaries and
locks, umask-respecting outputs, safe model files, predict's fingerprint and signals, checks before work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import av
import pytest
from omegaconf import OmegaConf

from src.faces.tracking.trackers import NtechTracker
from src.inference.batch import predict_videos
from src.inference.ensemble import load_model
from src.inference.run import absent_labelled
from src.preprocess.extract import ClipEncoder, extract_stage
from src.preprocess.index import MADE_BY_KEY, index_stage
from src.preprocess.probe import probe_stage
from src.preprocess.track import track_stage
from src.utils.config import check_shard
from src.utils.io import read_json, read_made_by, write_json
from src.utils.runner import SettingsChanged
from src.video.io import VideoReadError, probe
from src.video.sources import FolderSource
from tests.helpers import REPO_ROOT, seed_pairing, synthetic_frames


# 1. settings-aware resume
def test_rerun_with_another_tracker_refuses_then_redoes_and_the_index_records_it(dataset):
    ctx, _ = dataset
    probe_stage(ctx)
    track_stage(ctx, NtechTracker(clip_length=16))
    extract_stage(ctx, seed_pairing(NtechTracker()), ClipEncoder())
    with pytest.raises(SettingsChanged, match=r"tracker\.clip_length: 16 -> 12.*on_change=redo") as refused:
        track_stage(ctx, NtechTracker(clip_length=12))
    assert "\n" not in str(refused.value)
    assert read_json(ctx.work_dir / "tracks" / "real.mp4.json")["tracker"]["clip_length"] == 16  # nothing mixed

    ctx.on_change = "redo"
    report = track_stage(ctx, NtechTracker(clip_length=12))
    assert report.redone == 3 and report.failed == 1  # corrupt.mp4 still fails
    tracks = read_json(ctx.work_dir / "tracks" / "real.mp4.json")
    assert tracks["tracker"]["clip_length"] == 12 and tracks["made_by"]["settings"]["tracker"]["clip_length"] == 12
    assert extract_stage(ctx, seed_pairing(NtechTracker()), ClipEncoder()).redone == 3  # its input (the tracks) changed
    index_stage(ctx, val_fraction=0.0)
    import pyarrow.parquet as pq

    made_by = json.loads(pq.read_schema(ctx.work_dir / "index.parquet").metadata[MADE_BY_KEY])
    assert any('"clip_length": 12' in tracker for tracker in made_by["inputs"]["trackers"])

    ctx.on_change = "refuse"  # same settings again: nothing to do, nothing refused
    assert track_stage(ctx, NtechTracker(clip_length=12)).skipped == 3


def test_artifacts_from_before_fingerprints_are_adopted_once_with_a_warning(dataset, caplog):
    ctx, _ = dataset
    probe_stage(ctx)
    path = ctx.work_dir / "probe" / "real.mp4.json"
    legacy = read_json(path)
    legacy.pop("made_by")
    write_json(path, legacy)  # as written before this change
    report = probe_stage(ctx)
    assert (report.adopted, report.done) == (1, 0) and "adopted 1 artifacts" in caplog.text
    assert read_made_by(path)["settings"] == {} and read_json(path)["info"] == legacy["info"]
    os.utime(ctx.work_dir.parent / "data" / "real.mp4", ns=(1, 1))  # the video changed since: refused
    with pytest.raises(SettingsChanged, match=r"input changed \(video\.mtime_ns\)"):
        probe_stage(ctx)


# 2. shard-safe temporaries and locks
WORKER = """
import sys, time
sys.path.insert(0, {repo!r})
from pathlib import Path
from src.utils.io import atomic_open
from src.utils.runner import run_stage
out, shard, num_shards = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def process(item):
    with open(out / "calls.log", "a") as log:
        log.write(item + "\\n")
    with atomic_open(out / f"{{item}}.txt", "w") as handle:
        handle.write("begun ")
        time.sleep(0.4)  # long enough for the other process to start its stage meanwhile
        handle.write("done")
report = run_stage("slow", [f"v{{i:02d}}" for i in range(8)], process, lambda i: out / f"{{i}}.txt", key=str,
                   shard=shard, num_shards=num_shards, progress=False)
print(report.failed, report.busy)
"""


def _workers(tmp_path: Path, shards: list[tuple[int, int]], delay: float) -> list[subprocess.CompletedProcess]:
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(repo=str(REPO_ROOT)))
    procs = []
    for shard, num_shards in shards:
        cmd = [sys.executable, str(script), str(tmp_path), str(shard), str(num_shards)]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        time.sleep(delay)
    return [subprocess.CompletedProcess(p.args, p.wait(60), *p.communicate()) for p in procs]


def test_two_shards_started_seconds_apart_both_finish_without_failures(tmp_path):
    done = _workers(tmp_path, [(0, 2), (1, 2)], delay=1.5)
    for proc in done:
        assert proc.returncode == 0 and proc.stdout.split()[0] == "0", proc.stderr[-2000:]
    assert sorted(p.read_text() for p in tmp_path.glob("v*.txt")) == ["begun done"] * 8
    assert not list(tmp_path.glob(".tmp-*")) and not list(tmp_path.glob(".*.lock"))


def test_two_processes_on_the_same_shard_make_each_item_once(tmp_path):
    done = _workers(tmp_path, [(0, 1), (0, 1)], delay=0.2)
    assert all(proc.returncode == 0 for proc in done), [p.stderr[-2000:] for p in done]
    calls = (tmp_path / "calls.log").read_text().split()
    assert sorted(calls) == [f"v{i:02d}" for i in range(8)]  # each once, whoever made it
    assert sorted(p.read_text() for p in tmp_path.glob("v*.txt")) == ["begun done"] * 8


# 6. permissions
def test_outputs_are_0644_under_umask_022(tmp_path, monkeypatch):
    import pandas as pd
    import torch

    import src.utils.io as io
    from src.inference.batch import write_submission
    from src.models.export import write_export
    from src.preprocess.index import write_index
    from src.video.io import write_video

    previous = os.umask(0o022)
    try:
        monkeypatch.setattr(io, "FILE_MODE", 0o666 & ~io._read_umask())  # what importing under umask 022 gives
    finally:
        os.umask(previous)
    write_json(tmp_path / "a.json", {})
    write_video(tmp_path / "clip.mp4", synthetic_frames(2, 16, 16), fps=25)
    write_index(pd.DataFrame({"clip_id": ["x"]}), tmp_path / "index.parquet")
    write_export({"w": torch.zeros(2)}, {"net": {}}, tmp_path, "model")
    write_submission(tmp_path / "submission.csv", {"a.mp4": 0.5})
    for name in ("a.json", "clip.mp4", "index.parquet", "model.safetensors", "model.yaml", "submission.csv"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name


# 4 and 8. model files are data; their errors are one line
@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from src.inference.untrained import export_untrained

    return export_untrained(tmp_path_factory.mktemp("models"), "tiny", ["model=tiny"], seed=0)


def _edited(tiny_model: Path, tmp_path: Path, edit) -> Path:
    spec = OmegaConf.to_container(OmegaConf.load(tiny_model))
    edit(spec)
    path = tmp_path / "model.yaml"
    OmegaConf.save(OmegaConf.create(spec), path)
    (tmp_path / spec["weights"]).write_bytes((tiny_model.parent / spec["weights"]).read_bytes())
    return path


@pytest.mark.parametrize(
    "net",
    [
        {"_target_": "os.system", "command": "touch {marker}"},
        {"_target_": "torch.load", "f": "{marker}", "weights_only": False},
        {"_target_": "src.models.ntech.net.ntech_efficientnet", "act": {"_target_": "os.system", "command": "x"}},
    ],
)
def test_a_malicious_model_file_runs_nothing(tiny_model, tmp_path, net):
    marker = tmp_path / "pwned"
    net = json.loads(json.dumps(net).replace("{marker}", str(marker)))
    path = _edited(tiny_model, tmp_path, lambda spec: spec.update(net=net))
    with pytest.raises(ValueError, match=r"model\.yaml: refusing to build '(os\.system|torch\.load)'") as err:
        load_model(path)
    assert "\n" not in str(err.value) and not marker.exists()


def test_model_file_errors_are_one_line_naming_the_file(tiny_model, tmp_path):
    broken = tmp_path / "syntax" / "model.yaml"
    broken.parent.mkdir()
    broken.write_text("net: {_target_: x\nweights: [\n")
    with pytest.raises(ValueError, match=r"syntax/model\.yaml: not a valid model file: .* at line \d+") as err:
        load_model(broken)
    assert "Mark object" not in str(err.value)

    path = _edited(tiny_model, tmp_path, lambda spec: spec.pop("sha256"))
    weights = path.parent / "tiny.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"tiny\.safetensors: not a readable safetensors file, truncated"):
        load_model(path)
    weights.unlink()
    with pytest.raises(FileNotFoundError, match=r"tiny\.safetensors: weights file of .*model\.yaml not found"):
        load_model(path)

    other = _edited(tiny_model, tmp_path, lambda spec: (spec.pop("sha256"), spec["net"].update(seq_length=None)))
    with pytest.raises(ValueError, match=r"weights do not fit the architecture: \d+ (missing|unexpected)") as err:
        load_model(other)
    assert "\n" not in str(err.value) and len(str(err.value)) < 1000


# 3 and 5. predict: fingerprinted reports, SIGTERM
class CountingPredictor:
    """Scores every video 0.9 and counts the calls (the batch logic under test does not depend on the model)."""

    def __init__(self) -> None:
        self.scored: list[str] = []

    def prepare(self, path: str):
        return path

    def score(self, video, video_id: str):
        self.scored.append(video_id)
        report = {"score": 0.9, "status": "ok", "members": []}
        return SimpleNamespace(to_report=lambda: report, timings={}, status="ok", score=0.9)


def _videos(root: Path, content: bytes) -> list:
    root.mkdir(parents=True)
    for name in ("a.mp4", "b.mp4"):
        (root / name).write_bytes(content)
    return FolderSource(root).records()


def test_predict_rescores_after_a_re_export_or_with_other_videos_of_the_same_names(tmp_path):
    records = _videos(tmp_path / "videos", b"one")
    out, reports = tmp_path / "s.csv", tmp_path / "r"
    predictor = CountingPredictor()

    def predict(records, sha):
        return predict_videos(records, predictor, out, reports, 0.5, prefetch=0, progress=False, settings={"m": sha})

    predict(records, "aaa")
    predict(records, "aaa")
    assert predictor.scored == ["a.mp4", "b.mp4"]  # resumed: nothing twice
    predict(records, "bbb")  # the model re-exported (its sha256 changed)
    assert predictor.scored[2:] == ["a.mp4", "b.mp4"]
    predict(_videos(tmp_path / "elsewhere", b"two"), "bbb")  # videos= pointing at other files, same names
    assert predictor.scored[4:] == ["a.mp4", "b.mp4"]


def test_a_report_made_by_another_model_is_never_submitted(tmp_path):
    records = _videos(tmp_path / "videos", b"one")
    out, reports = tmp_path / "s.csv", tmp_path / "r"
    predict_videos(records, CountingPredictor(), out, reports, 0.5, prefetch=0, progress=False, settings={"m": "a"})
    summary = predict_videos(  # shard 1 of 2 rescored with the new model; shard 0's report is stale
        records, CountingPredictor(), out, reports, 0.5, 1, 2, prefetch=0, progress=False, settings={"m": "b"}
    )
    assert summary.rows == {"a.mp4": 0.5, "b.mp4": 0.9} and "other models" in summary.fallbacks["a.mp4"]


@pytest.mark.slow
def test_sigterm_during_predict_leaves_a_complete_submission(tiny_model, tmp_path):
    videos = tmp_path / "videos"
    for i in range(40):  # enough work that the signal lands mid-run (12 tiny videos once finished between two polls)
        VideoWriterHelper.write(videos / f"v{i:02d}.mp4", seed=i, frames=32)
    out = tmp_path / "submission.csv"
    command = [sys.executable, "predict.py", f"videos={videos}", f"out={out}", "ensemble=tiny"]
    command += ["ensemble.members.frame=null", f"ensemble.members.seq.model.path={tiny_model}"]
    command += ["progress=false", "prefetch=0", f"hydra.run.dir={tmp_path / 'hydra'}"]
    proc = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reports = tmp_path / "submission_report" / "videos"
    deadline = time.time() + 240
    while not list(reports.glob("*.json")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode not in (0, -signal.SIGTERM), stderr[-2000:]
    assert "interrupted (SIGTERM)" in stderr and "Traceback" not in stderr, stderr[-2000:]
    rows = out.read_text().splitlines()
    assert len(rows) == 41  # header + every video, unscored ones with the fallback
    run_report = json.loads((tmp_path / "submission_report" / "run_report.json").read_text())
    assert run_report["rows"] == 40


class VideoWriterHelper:
    @staticmethod
    def write(path: Path, seed: int, frames: int = 8) -> None:
        from src.video.io import write_video

        write_video(path, synthetic_frames(frames, 64, 64, seed=seed), fps=25, crf=30)


# 7 and 8. checks before work, one line
@pytest.mark.parametrize(("shard", "num_shards"), [(-1, 2), (2, 2), (0, 0), ("abc", 2)])
def test_bad_shards_are_one_line(shard, num_shards):
    with pytest.raises(SystemExit, match=r"config error: (num_)?shards? must be a whole number") as stop:
        check_shard(shard, num_shards)
    assert "\n" not in str(stop.value)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param(["detector.max_size=-5"], "preprocess: stage detect: detector mtcnn", marks=pytest.mark.slow),
        (["shard=abc"], "config error: shard must be a whole number"),
        (["data.work_dir=/proc/no_such_work"], "config error: data.work_dir=/proc/no_such_work is not writable"),
    ],
)
def test_preprocess_checks_values_before_the_first_video(overrides, expected, tmp_path):
    root = tmp_path / "data"
    VideoWriterHelper.write(root / "v.mp4", seed=0)
    command = [sys.executable, "preprocess.py", "data=folder", f"data.root={root}", "data.labels=null"]
    command += [f"data.work_dir={tmp_path / 'work'}", "run=[probe,detect]", f"hydra.run.dir={tmp_path / 'h'}"]
    out = subprocess.run([*command, *overrides], cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)
    assert out.returncode != 0 and expected in out.stderr and "Traceback" not in out.stderr, out.stderr[-2000:]
    assert not (tmp_path / "work" / "probe").exists()


def test_predict_missing_labels_and_unwritable_out_stop_before_any_video(tmp_path):
    from hydra import compose, initialize_config_dir

    from src.inference.run import run

    videos = tmp_path / "videos"
    VideoWriterHelper.write(videos / "v.mp4", seed=0)
    cases = {
        (f"labels={tmp_path / 'absent.csv'}", f"out={tmp_path / 's.csv'}"): "absent.csv",
        ("out=/proc/nowhere/s.csv",): "config error: out=/proc/nowhere is not writable",
    }
    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
        for overrides, expected in cases.items():
            cfg = compose("predict", overrides=[f"videos={videos}", "ensemble=tiny", *overrides])
            with pytest.raises(SystemExit, match=expected):
                run(cfg)
    assert not list(tmp_path.glob("**/videos/*.json"))


# 9. every input is accounted for
def test_dangling_links_folders_named_mp4_and_absent_labelled_videos_are_reported(tmp_path, caplog):
    root = tmp_path / "videos"
    VideoWriterHelper.write(root / "ok.mp4", seed=0)
    (root / "dir.mp4").mkdir()
    (root / "dangling.mp4").symlink_to(tmp_path / "gone.mp4")
    records = FolderSource(root).records()
    assert sorted(r.video_id for r in records) == ["dangling.mp4", "dir.mp4", "ok.mp4"]
    assert "dangling link" in caplog.text and "not a regular file" in caplog.text
    for name, cause in (("dangling.mp4", "file not found"), ("dir.mp4", "not a regular file")):
        with pytest.raises(VideoReadError, match=cause):
            probe(root / name)
    extra = absent_labelled(records, root, ["ok.mp4", "missing.mp4"])
    assert [r.video_id for r in extra] == ["missing.mp4"] and "missing.mp4" in caplog.text


# 10. truncated MP4 with the index at the end (DFDC's layout)
@pytest.mark.parametrize("fraction", [0.5, 0.05])
def test_a_cut_mp4_with_its_index_at_the_end_is_called_truncated(tmp_path, fraction):
    path = tmp_path / "moov_at_end.mp4"
    with av.open(str(path), "w", format="mp4") as container:  # no +faststart: moov written last
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for frame in synthetic_frames(25, 64, 64):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(VideoReadError, match=r"moov_at_end\.mp4: truncated MP4"):
        probe(path)


# 12. words
def test_an_index_without_validation_and_videos_without_clips_are_said(dataset, caplog):
    ctx, _ = dataset
    probe_stage(ctx)
    track_stage(ctx, NtechTracker(clip_length=64))  # 40-frame videos: tracks, but none long enough for a clip
    extract_stage(ctx, seed_pairing(NtechTracker()), ClipEncoder())
    index_stage(ctx, val_fraction=0.0)
    assert "3 videos yielded no clip" in caplog.text and "none long enough" in caplog.text
    caplog.clear()
    ctx.on_change = "redo"
    track_stage(ctx, NtechTracker(clip_length=16))
    extract_stage(ctx, seed_pairing(NtechTracker()), ClipEncoder())
    index_stage(ctx, val_fraction=0.0)
    assert "every labelled clip is in train, none in val" in caplog.text


def test_train_ckpt_path_that_is_not_a_checkpoint_is_one_line_naming_it(tmp_path):
    from train import check_checkpoint

    notes = tmp_path / "notes.ckpt"
    notes.write_text("not a checkpoint")
    with pytest.raises(SystemExit, match=r"ckpt_path=.*notes\.ckpt: not a checkpoint"):
        check_checkpoint(str(notes))
    with pytest.raises(SystemExit, match=r"ckpt_path=.*absent\.ckpt: no such checkpoint file"):
        check_checkpoint(str(tmp_path / "absent.ckpt"))
    check_checkpoint("last")  # Lightning's own keywords pass


def test_sigterm_in_training_saves_a_checkpoint_by_default():
    callbacks = OmegaConf.load(REPO_ROOT / "conf" / "callbacks" / "default.yaml")
    assert callbacks.model_checkpoint.save_on_exception  # Lightning raises SIGTERMException into on_exception


def test_faces_too_few_for_a_track_are_not_called_no_face():
    from src.inference.batch import status_words

    assert status_words("no_track") == "faces found but too few to form a track"
    assert status_words("no_face") == "no face"


def test_training_refuses_an_index_made_by_another_tracker(dataset):
    from src.datamodules.index import read_clip_index

    ctx, _ = dataset
    probe_stage(ctx)
    track_stage(ctx, NtechTracker(clip_length=16))
    extract_stage(ctx, seed_pairing(NtechTracker()), ClipEncoder())
    index_stage(ctx, val_fraction=0.0)
    assert len(read_clip_index(ctx.work_dir / "index.parquet", "ntech")) == 3
    with pytest.raises(ValueError, match=r"clips made by tracker ntech, this model's recipe needs tracker=tubes"):
        read_clip_index(ctx.work_dir / "index.parquet", "tubes")


def test_only_temporaries_of_gone_writers_are_removed(tmp_path):
    from src.utils.io import remove_stale_temporaries, temporary_prefix

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    mine, gone = tmp_path / f"{temporary_prefix()}a.json", tmp_path / f"{temporary_prefix(dead.pid)}b.json"
    live = tmp_path / f"{temporary_prefix(os.getppid())}c.json"  # a live process: perhaps another shard
    other_host = tmp_path / ".tmp-otherhost-1-d.json"
    for path in (mine, gone, live, other_host):
        path.write_text("{}")
    assert remove_stale_temporaries(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other_host.name])


def test_a_full_disk_stops_the_stage_instead_of_failing_every_item(tmp_path):
    import errno

    from src.utils.runner import run_stage

    calls = []

    def process(item):
        calls.append(item)
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / f"{item}.json"))

    with pytest.raises(OSError, match="No space left"):
        run_stage("s", list("abc"), process, lambda i: tmp_path / f"{i}.json", key=str, report_dir=tmp_path)
    assert calls == ["a"] and "No space left" in (tmp_path / "s-shard0of1.jsonl").read_text()


@pytest.mark.slow
def test_sigterm_stops_preprocess_with_one_line_and_keeps_finished_videos(tmp_path):
    root = tmp_path / "data"
    for i in range(40):  # enough work that the signal lands mid-stage (10 tiny videos once finished between polls)
        VideoWriterHelper.write(root / f"v{i:02d}.mp4", seed=i, frames=32)
    work = tmp_path / "work"
    command = [sys.executable, "preprocess.py", "data=folder", f"data.root={root}", "data.labels=null"]
    command += [f"data.work_dir={work}", "run=[probe,detect]", "progress=false", f"hydra.run.dir={tmp_path / 'h'}"]
    proc = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while not list((work / "detections").glob("*.npz")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode not in (0, -signal.SIGTERM), stderr[-2000:]
    assert "preprocess: stage detect: interrupted (SIGTERM)" in stderr and "Traceback" not in stderr, stderr[-2000:]
    finished = sorted(p.name for p in (work / "detections").glob("*.npz"))
    assert finished and not list((work / "detections").glob(".tmp-*"))
    again = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=240)
    assert f"{len(finished)} already done" in again.stdout, again.stdout + again.stderr[-2000:]


class SigtermAt:
    """A callback that sends this process SIGTERM after training step ``step`` (what Slurm does at a time limit)."""

    def __new__(cls, step: int):
        import pytorch_lightning as pl

        class Sender(pl.Callback):
            def on_train_batch_end(self, trainer, *args) -> None:
                if trainer.global_step == step:
                    os.kill(os.getpid(), signal.SIGTERM)

        return Sender()


@pytest.mark.slow
def test_sigterm_during_training_saves_a_checkpoint_and_exits_with_one_line(tmp_path):
    from src.datamodules.synthetic import write_synthetic_dataset
    from tests.helpers import compose_train, overrides
    from train import train

    work = tmp_path / "synthetic"
    write_synthetic_dataset(work, num_originals=4, fakes_per_original=1, val_originals=1)
    out = tmp_path / "run"
    extra = ["model.max_steps=50", "model.train_dataset.compression.p=0", "trainer.val_check_interval=40"]
    extra += ["+callbacks.term._target_=tests.test_reliability.SigtermAt", "+callbacks.term.step=2"]
    with pytest.raises(SystemExit, match=r"train: interrupted \(SIGTERM\); resume with ckpt_path=.*last\.ckpt") as stop:
        train(compose_train(*overrides(work, out, *extra)))
    assert "\n" not in str(stop.value) and (out / "checkpoints" / "last.ckpt").is_file()
