"""``imagekit report merge``: every format the CI recipes write, and overlapping reports."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from imagekit_cli.report import FileResult, RunReport, Status
from imagekit_cli.report_files import write_report
from tests.conftest import CliRecorder, make_file
from tests.fake_imagekit import FakeState


def _report(*results: FileResult, finished: float) -> RunReport:
    report = RunReport("upload")
    for result in results:
        report.add(result)
    report.started = finished - 1
    report.finished = finished
    return report


@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".csv", ".xml"])
def test_merge_reads_each_report_format_a_shard_writes(
    fake: FakeState, env, cli: CliRecorder, tmp_path: Path, suffix: str
) -> None:
    for i in range(12):
        make_file(tmp_path / "d" / f"{i}.txt", 10 + i, i)
    make_file(tmp_path / "d" / "skip.heic", 5)
    reports = []
    for k in (1, 2):
        report = tmp_path / f"shard-{k}{suffix}"
        result = cli("upload", str(tmp_path / "d"), "--folder", "/m", "--shard", f"{k}/2",
                     "--report", str(report), env=env)  # fmt: skip
        assert result.exit_code == 0, result.stderr
        reports.append(str(report))
    merged = cli("report", "merge", *reports, "-o", "json")
    assert merged.exit_code == 0, merged.stderr
    body = json.loads(merged.stdout)
    assert body["summary"]["uploaded"] == 12
    uploaded = {f["remote_path"] for f in body["files"] if f["status"] == "uploaded"}
    assert uploaded == fake.stored_paths()
    assert sum(f["size"] for f in body["files"] if f["status"] == "uploaded") == sum(
        10 + i for i in range(12)
    )


def test_overlapping_reports_count_each_file_once_latest_wins(
    cli: CliRecorder, tmp_path: Path
) -> None:
    failed = FileResult("a.jpg", "/a.jpg", Status.FAILED, "500 boom", 4,
                        error={"status": 500, "message": "boom"})  # fmt: skip
    ok = FileResult("b.jpg", "/b.jpg", Status.UPLOADED, size=3, attempts=1)
    retried = FileResult("a.jpg", "/a.jpg", Status.UPLOADED, size=4, attempts=1)
    write_report(_report(retried, finished=2_000_000_000), tmp_path / "rerun.json")
    write_report(_report(failed, ok, finished=1_900_000_000), tmp_path / "first.csv")
    first = tmp_path / "first.csv"
    os.utime(first, (1_900_000_000, 1_900_000_000))
    result = cli("report", "merge", str(tmp_path / "rerun.json"), str(first), "-o", "json")
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["summary"]["total"] == 2
    assert body["summary"]["uploaded"] == 2
    assert body["summary"]["failed"] == 0
    assert {f["path"]: f["status"] for f in body["files"]} == {
        "a.jpg": "uploaded",
        "b.jpg": "uploaded",
    }


def test_merge_refuses_an_unknown_format_naming_it(cli: CliRecorder, tmp_path: Path) -> None:
    (tmp_path / "run.txt").write_text("hello\n")
    result = cli("report", "merge", str(tmp_path / "run.txt"))
    assert result.exit_code == 2
    assert "run.txt: unknown report format '.txt'" in result.stderr
    assert "Traceback" not in result.stderr


def test_merge_refuses_a_journal_that_holds_no_record(cli: CliRecorder, tmp_path: Path) -> None:
    (tmp_path / "g.jsonl").write_text("garbage\n")
    result = cli("report", "merge", str(tmp_path / "g.jsonl"))
    assert result.exit_code == 2
    assert "g.jsonl line 1 is not valid JSON" in result.stderr
