"""Tests that bite: each one was checked to fail when the behaviour it names is broken.

Every upload flag is passed through the CLI and read back from the request the fake server
received; sync's --checksum, the delete guard next to folders the walk could not enter,
resume's mtime check and the shared 429 pause are each driven end to end.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest

from imagekit_cli.report import FileResult, RunReport, Status
from imagekit_cli.report_files import write_report
from tests.conftest import CliRecorder, make_file
from tests.fake_imagekit import FakeState

BASE_FIELDS = {"fileName", "folder", "useUniqueFileName"}
EXTENSIONS = '[{"name": "google-auto-tagging", "maxTags": 5, "minConfidence": 95}]'
METADATA = '{"brand": "acme", "n": 1}'


def compact(text: str) -> str:
    """JSON as the CLI sends it: validated, then without spaces."""
    return json.dumps(json.loads(text), separators=(",", ":"))


# flag(s) on the command line -> (form field, value on the wire)
UPLOAD_FLAGS: list[tuple[list[str], str, str]] = [
    ([], "useUniqueFileName", "false"),
    (["--unique-names"], "useUniqueFileName", "true"),
    (["--no-unique-names"], "useUniqueFileName", "false"),
    (["--overwrite"], "overwriteFile", "true"),
    (["--no-overwrite"], "overwriteFile", "false"),
    (["--overwrite-tags"], "overwriteTags", "true"),
    (["--no-overwrite-tags"], "overwriteTags", "false"),
    (["--overwrite-ai-tags"], "overwriteAITags", "true"),
    (["--no-overwrite-ai-tags"], "overwriteAITags", "false"),
    (["--overwrite-custom-metadata"], "overwriteCustomMetadata", "true"),
    (["--no-overwrite-custom-metadata"], "overwriteCustomMetadata", "false"),
    (["--tags", "summer, beach"], "tags", "summer,beach"),
    (["--private"], "isPrivateFile", "true"),
    (["--draft"], "isPublished", "false"),
    (["--custom-coordinates", "10,20,300,400"], "customCoordinates", "10,20,300,400"),
    (["--custom-metadata", METADATA], "customMetadata", '{"brand":"acme","n":1}'),
    (["--extensions", EXTENSIONS], "extensions", compact(EXTENSIONS)),
    (["--transformation", '{"pre": "w-1000"}'], "transformation", '{"pre":"w-1000"}'),
    (["--webhook-url", "https://example.com/hook"], "webhookUrl", "https://example.com/hook"),
    (["--checks", '"file.size" < "1mb"'], "checks", '"file.size" < "1mb"'),
    (["--description", "A beach at dawn"], "description", "A beach at dawn"),
    (["--response-fields", "tags, customMetadata"], "responseFields", "tags,customMetadata"),
    (["--folder", "/brand/2024"], "folder", "/brand/2024/"),
    (["--name", "logo.png"], "fileName", "logo.png"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("flags", "field", "value"), UPLOAD_FLAGS, ids=[f[0] if f else "none" for f, *_ in UPLOAD_FLAGS]
)
def test_upload_flag_reaches_the_wire(
    fake: FakeState, env, cli: CliRecorder, tmp_path: Path, flags: list[str], field: str, value: str
) -> None:
    source = make_file(tmp_path / "photo.jpg", 300)
    result = cli("upload", str(source), "--progress", "none", *flags, env=env)
    assert result.exit_code == 0, result.stderr
    (sent,) = fake.requests_of("upload")
    assert sent.fields[field] == value
    # Nothing else changes: the flag adds its one field to the three every upload sends.
    assert set(sent.fields) == BASE_FIELDS | {field}


def test_sync_checksum_finds_a_same_size_same_mtime_edit(
    fake: FakeState, env, cli: CliRecorder, tmp_path: Path
) -> None:
    local = tmp_path / "local"
    edited = make_file(local / "a.txt", 100, 1)
    make_file(local / "b.txt", 100, 2)
    assert cli("sync", str(local), "/site", env=env).exit_code == 0
    stamp = edited.stat().st_mtime
    make_file(edited, 100, 9)  # new bytes, same size, and the old mtime put back
    os.utime(edited, (stamp, stamp))

    fake.reset_log()
    trusting = cli("sync", str(local), "/site", env=env)
    assert trusting.exit_code == 0, trusting.stderr
    assert fake.requests_of("upload") == []  # size and mtime match: not looked at

    checking = cli("sync", str(local), "/site", "--checksum", "-o", "json", env=env)
    assert checking.exit_code == 0, checking.stderr
    assert [r.fields["fileName"] for r in fake.uploads_ok()] == ["a.txt"]
    reasons = {Path(f["path"]).name: f["reason"] for f in json.loads(checking.stdout)["files"]}
    assert reasons == {
        "a.txt": "content changed (same size)",
        "b.txt": "unchanged (content hash matches)",
    }


@pytest.fixture
def unreadable(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Folders whose listing fails with EACCES (chmod 000 cannot stop root, this can)."""
    blocked: set[str] = set()
    real_scandir = os.scandir

    def scandir(path: str | Path = ".") -> object:
        if os.path.realpath(path) in blocked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    return blocked


def test_sync_delete_spares_what_is_under_unreadable_or_hidden_folders(
    fake: FakeState, env, cli: CliRecorder, tmp_path: Path, unreadable: set[str]
) -> None:
    local = tmp_path / "local"
    names = ("gone.jpg", "kept.jpg", "locked/a.jpg", "locked/deep/b.jpg", ".cache/c.jpg", ".d.jpg")
    for name in names:
        make_file(local / name, 50)
    first = cli("sync", str(local), "/site", "--hidden", env=env)
    assert first.exit_code == 0, first.stderr
    assert len(fake.stored_paths()) == 6
    (local / "gone.jpg").unlink()
    unreadable.add(os.path.realpath(local / "locked"))

    result = cli("sync", str(local), "/site", "--delete", "--yes", "-o", "json", env=env)
    assert result.exit_code == 1, result.stderr  # an unreadable folder is a skip by error
    assert fake.stored_paths() == {
        "/site/kept.jpg", "/site/locked/a.jpg", "/site/locked/deep/b.jpg", "/site/_cache/c.jpg",
        "/site/.d.jpg",
    }  # fmt: skip
    records = {f["path"]: f for f in json.loads(result.stdout)["files"]}
    assert records["/site/gone.jpg"]["status"] == "deleted"
    skipped = {Path(p).name: f["reason"] for p, f in records.items() if f["status"] == "skipped"}
    assert skipped["locked"] == "permission denied"
    assert skipped[".cache"] == "hidden folder (use --hidden)"
    assert skipped[".d.jpg"] == "hidden file (use --hidden)"


def test_resume_reuploads_a_file_with_the_same_size_and_a_new_mtime(
    fake: FakeState, env, cli: CliRecorder, tmp_path: Path
) -> None:
    make_file(tmp_path / "t" / "a.jpg", 100)
    touched = make_file(tmp_path / "t" / "b.jpg", 100, 1)
    journal = tmp_path / "run.jsonl"
    first = cli("upload", str(tmp_path / "t"), "--report", str(journal), env=env)
    assert first.exit_code == 0, first.stderr
    make_file(touched, 100, 2)  # same size, new content
    later = touched.stat().st_mtime + 30
    os.utime(touched, (later, later))
    fake.reset_log()
    result = cli("upload", str(tmp_path / "t"), "--resume", str(journal), env=env)
    assert result.exit_code == 0, result.stderr
    assert [r.fields["fileName"] for r in fake.uploads_ok()] == ["b.jpg"]


def test_rate_limited_uploads_share_one_pause_and_wait_what_the_server_says(
    fake: FakeState, env, cli: CliRecorder, tmp_path: Path
) -> None:
    """6 uploads a second, 8 workers. After a 429 every worker waits out the reset (the
    shared pause), so a window costs at most the 2 requests already in flight beyond the
    limit. Without the shared pause the 6 that got through each meet a 429 as well (8 a
    window); without the server's wait, backoff retries land inside the same window.
    """
    for i in range(18):
        make_file(tmp_path / "t" / f"f{i}.jpg", 200, i)
    fake.faults.upload_rate_limit = (6, 1000)
    fake.faults.processing_latency = 0.3  # a 429 comes back while the 6 admitted still run
    result = cli("upload", str(tmp_path / "t"), "-j", "8", "--progress", "none", env=env)
    assert result.exit_code == 0, result.stderr
    assert len(fake.uploads_ok()) == 18
    hits = [r for r in fake.requests_of("upload") if r.status == 429]
    windows = 18 // 6
    assert 1 <= len(hits) <= 2 * (windows - 1) + 2, f"{len(hits)} 429s"


def test_rate_limited_listing_waits_what_the_server_says(
    fake: FakeState, env, cli: CliRecorder, tmp_path: Path
) -> None:
    """The list API allows 5 calls a second; sync lists 13 folders with 4 workers. Waiting
    the reset the server names costs a few 429s per window; backoff alone retries early."""
    local = tmp_path / "local"
    for i in range(12):
        make_file(local / f"d{i}" / "a.txt", 20, i)
    assert cli("sync", str(local), "/site", env=env).exit_code == 0
    fake.faults.media_rate_limit = (5, 1000)
    fake.reset_log()
    result = cli("sync", str(local), "/site", env=env)
    assert result.exit_code == 0, result.stderr
    assert fake.requests_of("upload") == []
    lists = fake.requests_of("list")
    hits = [r for r in lists if r.status == 429]
    assert len(lists) - len(hits) == 13
    assert 1 <= len(hits) <= 8, f"{len(hits)} 429s"  # 7 when the wait is honoured, 14 if not


def test_imagekit_request_id_reaches_every_report_format(
    fake: FakeState, env, cli: CliRecorder, tmp_path: Path
) -> None:
    make_file(tmp_path / "t" / "ok.jpg", 50)
    make_file(tmp_path / "t" / "bad.jpg", 50, 1)
    fake.faults.fail_names["bad.jpg"] = (400, "Your request contains invalid file parameter.")
    reports = {suffix: tmp_path / f"run{suffix}" for suffix in (".json", ".jsonl", ".csv", ".xml")}
    for path in reports.values():
        result = cli("upload", str(tmp_path / "t"), "--report", str(path), env=env)
        assert result.exit_code == 1, result.stderr
    refused = [r.request_id for r in fake.requests_of("upload") if r.status == 400]
    assert all(refused)
    first, journal, table, junit = refused  # one refused upload per run
    (record,) = [f for f in json.loads(reports[".json"].read_text())["files"] if f["error"]]
    assert record["error"]["request_id"] == first
    lines = [json.loads(line) for line in reports[".jsonl"].read_text().splitlines()]
    assert [r["error"]["request_id"] for r in lines if r["error"]] == [journal]
    rows = list(csv.DictReader(io.StringIO(reports[".csv"].read_text())))
    assert [r["error_request_id"] for r in rows if r["status"] == "failed"] == [table]
    assert f"(ImageKit request id {junit})" in reports[".xml"].read_text()


@pytest.mark.parametrize(
    ("reason", "code"),
    [("permission denied", 1), ("exceeds free plan limit 25 MB", 1), ("excluded", 0)],
)
def test_exit_code_comes_from_the_report_alone(
    cli: CliRecorder, tmp_path: Path, reason: str, code: int
) -> None:
    """A skip by error exits 1 wherever the report is judged: a run or a merge of runs."""
    report = RunReport("upload")
    report.add(FileResult("a.jpg", "/a.jpg", Status.UPLOADED, size=5, attempts=1))
    report.add(FileResult("b.jpg", "/b.jpg", Status.SKIPPED, reason))
    assert report.exit_code() == code
    write_report(report, tmp_path / "shard.json")
    result = cli("report", "merge", str(tmp_path / "shard.json"), "-o", "json")
    assert result.exit_code == code, result.stderr
