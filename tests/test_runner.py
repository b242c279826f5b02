"""The stage runner: deterministic shards, resume after a kill, failures reported without stopping the batch."""

from __future__ import annotations

import json

import pytest

from src.utils.io import atomic_open, write_json
from src.utils.runner import run_stage, select_shard


def test_shards_are_disjoint_and_complete():
    items = [f"v{i:03d}" for i in range(103)]
    shards = [select_shard(list(reversed(items)), k, 4, key=str) for k in range(4)]
    flat = [x for s in shards for x in s]
    assert sorted(flat) == items and len(set(flat)) == len(items)
    assert select_shard(items, 1, 4, key=str) == shards[1]
    with pytest.raises(ValueError):
        select_shard(items, 4, 4, key=str)


def test_groups_share_a_shard():
    items = [f"v{i:03d}" for i in range(60)]
    group = lambda item: f"g{int(item[1:]) % 7}"  # noqa: E731
    shards = [select_shard(items, k, 3, key=str, group=group) for k in range(3)]
    assert sorted(x for s in shards for x in s) == items
    for shard in shards:
        assert shard == sorted(shard)
        assert all(group(x) not in {group(y) for s in shards if s is not shard for y in s} for x in shard)


def _stage(tmp_path, fail=(), calls=None):
    def out(item):
        return tmp_path / "out" / f"{item}.json"

    def process(item):
        if calls is not None:
            calls.append(item)
        if item in fail:
            raise OSError(f"cannot read {item}\nsecond line")
        write_json(out(item), {"item": item})

    return process, out


def test_failures_are_reported_and_resume_skips_finished(tmp_path):
    items = ["a", "b", "c", "d"]
    calls: list[str] = []
    process, out = _stage(tmp_path, fail={"c"}, calls=calls)
    report = run_stage("demo", items, process, out, key=str, report_dir=tmp_path / "reports", progress=False)
    assert (report.done, report.failed, report.skipped) == (3, 1, 0)
    assert report.failures["c"] == "cannot read c second line"
    rows = [json.loads(x) for x in (tmp_path / "reports" / "demo-shard0of1.jsonl").read_text().splitlines()]
    assert rows == [{"video_id": "c", "stage": "demo", "error": "cannot read c second line"}]

    calls.clear()
    process, out = _stage(tmp_path, calls=calls)  # the cause is fixed: only "c" is retried
    report = run_stage("demo", items, process, out, key=str, report_dir=tmp_path / "reports", progress=False)
    assert calls == ["c"] and (report.done, report.skipped, report.failed) == (1, 3, 0)
    assert (tmp_path / "reports" / "demo-shard0of1.jsonl").read_text() == ""


def test_known_failures_can_be_skipped(tmp_path):
    process, out = _stage(tmp_path, fail={"b"})
    run_stage("s", ["a", "b"], process, out, key=str, report_dir=tmp_path, progress=False)
    calls: list[str] = []
    process, out = _stage(tmp_path, fail={"b"}, calls=calls)
    report = run_stage("s", ["a", "b"], process, out, key=str, report_dir=tmp_path, retry_failed=False, progress=False)
    assert calls == [] and report.skipped == 2


def test_kill_leaves_no_partial_files_and_rerun_finishes(tmp_path):
    def out(item):
        return tmp_path / "out" / f"{item}.txt"

    def process(item):
        with atomic_open(out(item), "w") as handle:
            handle.write("partial ")
            if item == "c":
                raise KeyboardInterrupt  # the operator hits Ctrl-C while "c" is half written
            handle.write("done")

    with pytest.raises(KeyboardInterrupt):
        run_stage("s", list("abcde"), process, out, key=str, report_dir=tmp_path / "r", progress=False)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.txt", "b.txt"]

    def finish(item):
        write_json(out(item), {"ok": item})

    report = run_stage("s", list("abcde"), finish, out, key=str, report_dir=tmp_path / "r", progress=False)
    assert (report.done, report.skipped) == (3, 2)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"{x}.txt" for x in "abcde"]
