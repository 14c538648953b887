"""Report model and serialisers (pure; no server needed)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from imagekit_cli.report import FileResult, RunReport, Status
from imagekit_cli.report_files import render, write_report
from imagekit_cli.report_read import merge_reports


def _results() -> list[FileResult]:
    return [
        FileResult("a.jpg", "/a.jpg", Status.UPLOADED, size=10, attempts=1),
        FileResult("b.exe", "/b.exe", Status.SKIPPED, "type not allowed", 5),
        FileResult(
            'c,"d".jpg',
            "/c__d_.jpg",
            Status.FAILED,
            "400 bad",
            7,
            error={"status": 400, "message": "bad"},
        ),
    ]


def test_streaming_report_keeps_counts_and_failures_only() -> None:
    report = RunReport("upload", keep_files=False)
    for result in _results():
        report.add(result)
    assert report.files == []
    assert [f.path for f in report.failures] == ['c,"d".jpg']
    assert report.summary() == {"total": 3, "uploaded": 1, "skipped": 1, "failed": 1,
                                "deleted": 0, "bytes_uploaded": 10}  # fmt: skip
    assert int(report.exit_code()) == 1


def test_dry_run_summary_has_planned() -> None:
    report = RunReport("upload", dry_run=True)
    report.add(FileResult("a.jpg", "/a.jpg", Status.PLANNED, size=3))
    assert report.summary()["planned"] == 1
    assert "planned" not in RunReport("upload").summary()


def test_csv_round_trips_awkward_names() -> None:
    report = RunReport("upload")
    for result in _results():
        report.add(result)
    rows = list(csv.DictReader(io.StringIO(render(report, "csv"))))
    assert [r["path"] for r in rows] == ["a.jpg", "b.exe", 'c,"d".jpg']
    assert rows[2]["error_status"] == "400"
    assert rows[2]["error_message"] == "bad"


def test_merge_reads_json_and_jsonl(tmp_path: Path) -> None:
    first, second = RunReport("upload"), RunReport("upload")
    for result in _results()[:2]:
        first.add(result)
    second.add(_results()[2])
    first.finish()
    second.finish()
    write_report(first, tmp_path / "a.json")
    write_report(second, tmp_path / "b.jsonl")
    merged = merge_reports([tmp_path / "a.json", tmp_path / "b.jsonl"])
    assert merged.summary()["total"] == 3
    assert merged.summary()["failed"] == 1
    body = json.loads(render(merged, "json"))
    assert body["schema_version"] == 1
    assert [f["path"] for f in body["files"]] == ["a.jpg", "b.exe", 'c,"d".jpg']


def test_report_files_are_world_readable_config_is_not(tmp_path: Path) -> None:
    import stat

    from imagekit_cli.config import write_config

    report = RunReport("upload")
    write_report(report, tmp_path / "r.json")
    write_config(tmp_path / "c.toml", {"default": {"plan": "pro"}})
    assert stat.S_IMODE((tmp_path / "r.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "c.toml").stat().st_mode) == 0o600
