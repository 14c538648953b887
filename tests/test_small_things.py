"""Smaller things a newcomer meets: local checks, honest echoes, quiet retries."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from imagekit_cli.ui import PlainReporter
from tests.conftest import CliRecorder, make_file
from tests.fake_imagekit import FakeState


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--extensions", "[1]", '--extensions item 0 must be an object with a "name"'),
        ("--extensions", '[{"maxTags": 5}]', "--extensions item 0 must be an object"),
        ("--transformation", '{"pre": 5}', "--transformation pre must be a string"),
        ("--transformation", '{"pre": "w-10", "size": 1}', "unknown key(s) size"),
        ("--transformation", '{"post": [{"type": "zoom"}]}', "post[0] must be an object whose"),
        ("--transformation", '{"post": [{"type": "abs", "value": "sr-240"}]}', "protocol"),
    ],
)
def test_json_option_shapes_are_checked_before_anything_is_sent(
    fake: FakeState, env, cli: CliRecorder, tmp_path: Path, flag: str, value: str, message: str
) -> None:
    for i in range(3):
        make_file(tmp_path / "d" / f"{i}.jpg", 10, i)
    result = cli("upload", str(tmp_path / "d"), flag, value, env=env)
    assert result.exit_code == 2
    assert message in result.stderr
    assert fake.requests_of("upload") == []


def test_documented_json_shapes_are_accepted(fake: FakeState, env, cli, tmp_path: Path) -> None:
    make_file(tmp_path / "a.jpg", 10)
    post = '[{"type": "thumbnail"}, {"type": "abs", "protocol": "hls", "value": "sr-240_360"}]'
    result = cli("upload", str(tmp_path / "a.jpg"),
                 "--extensions", '[{"name": "google-auto-tagging", "maxTags": 5}]',
                 "--transformation", f'{{"pre": "w-100", "post": {post}}}', env=env)  # fmt: skip
    assert result.exit_code == 0, result.stderr


def test_name_is_refused_with_a_folder_or_empty(cli: CliRecorder, tmp_path: Path) -> None:
    make_file(tmp_path / "d" / "a.jpg", 10)
    folder = cli("upload", str(tmp_path / "d"), "--name", "x.jpg", "--dry-run")
    assert folder.exit_code == 2
    assert "--name names one file, but" in folder.stderr
    empty = cli("upload", str(tmp_path / "d" / "a.jpg"), "--name", " ", "--dry-run")
    assert empty.exit_code == 2
    assert "--name is empty" in empty.stderr


def test_max_size_is_echoed_in_the_unit_the_user_wrote(cli: CliRecorder, tmp_path: Path) -> None:
    make_file(tmp_path / "big.jpg", 2_000_000)
    result = cli("upload", str(tmp_path / "big.jpg"), "--max-size", "1.5MiB", "--dry-run",
                 "-o", "json")  # fmt: skip
    assert json.loads(result.stdout)["files"][0]["reason"] == "exceeds --max-size 1.5MiB"


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        ("not json at all\n", "run.jsonl", "line 1 is not valid JSON"),
        ('{"a": 1}\n', "run.jsonl", "record 1 has no path and status"),
        ("path,status\n", "run.csv", "expected a .jsonl report"),
    ],
)
def test_resume_refuses_a_file_that_is_not_a_journal(
    cli: CliRecorder, tmp_path: Path, content: str, name: str, message: str
) -> None:
    make_file(tmp_path / "a.jpg", 10)
    (tmp_path / name).write_text(content)
    result = cli("upload", str(tmp_path / "a.jpg"), "--resume", str(tmp_path / name), "--dry-run")
    assert result.exit_code == 2
    assert message in result.stderr


def test_resume_accepts_an_empty_journal(cli: CliRecorder, tmp_path: Path) -> None:
    make_file(tmp_path / "a.jpg", 10)
    (tmp_path / "run.jsonl").write_text("")
    result = cli("upload", str(tmp_path / "a.jpg"), "--resume", str(tmp_path / "run.jsonl"),
                 "--dry-run")  # fmt: skip
    assert result.exit_code == 0, result.stderr


def test_url_sources_show_no_made_up_size(cli: CliRecorder) -> None:
    result = cli("upload", "https://example.com/cat.jpg", "--dry-run")
    assert result.exit_code == 0
    row = next(line for line in result.stdout.splitlines() if line.startswith("planned"))
    assert row.split()[-1] == "-"
    assert "0 B" not in row


def test_retry_lines_only_with_verbose() -> None:
    quiet_out, loud_out = io.StringIO(), io.StringIO()
    PlainReporter(Console(file=quiet_out), verbose=0).retrying(1, "a.jpg", 1, "503 busy", 0.5)
    PlainReporter(Console(file=loud_out), verbose=1).retrying(1, "a.jpg", 1, "503 busy", 0.5)
    assert quiet_out.getvalue() == ""
    assert "retry     a.jpg  attempt 1 failed: 503 busy" in loud_out.getvalue()


def test_sync_help_says_its_dry_run_needs_the_key(cli: CliRecorder) -> None:
    text = " ".join(cli("sync", "--help").stdout.split())
    assert "sync's lists the remote folder, so it needs the key" in text


def test_sync_dry_run_gives_reasons_and_remote_paths_for_deletes(
    fake: FakeState, env, cli: CliRecorder, tmp_path: Path
) -> None:
    make_file(tmp_path / "d" / "same.jpg", 10)
    make_file(tmp_path / "d" / "gone.jpg", 10)
    assert cli("sync", str(tmp_path / "d"), "/s", env=env).exit_code == 0
    (tmp_path / "d" / "gone.jpg").unlink()
    make_file(tmp_path / "d" / "new.jpg", 10)
    result = cli("sync", str(tmp_path / "d"), "/s", "--delete", "--dry-run", "-o", "json",
                 env=env)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    files = {f["remote_path"]: f for f in json.loads(result.stdout)["files"]}
    assert files["/s/new.jpg"]["status"] == "planned"
    assert files["/s/new.jpg"]["reason"] == "new file"
    assert files["/s/gone.jpg"]["path"] == "/s/gone.jpg"  # no made-up local path
    assert files["/s/gone.jpg"]["reason"] == "delete: no local file"
