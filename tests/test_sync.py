"""`imagekit sync` and `imagekit ls` end to end against the fake server."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import CliRecorder, make_file
from tests.fake_imagekit import FakeState


def _tree(root: Path, count: int, big_folder: int = 0) -> set[str]:
    """``count`` files spread over nested folders (plus ``big_folder`` in one folder)."""
    remote = set()
    for i in range(count):
        rel = f"d{i % 5}/e{i % 3}/f{i}.txt"
        make_file(root / rel, 20 + i % 7, i)
        remote.add(f"/site/{rel}")
    for i in range(big_folder):
        make_file(root / "big" / f"b{i}.txt", 10, i)
        remote.add(f"/site/big/b{i}.txt")
    return remote


def _sync(cli: CliRecorder, env, local: Path, *args: str):
    return cli("sync", str(local), "/site", "-o", "json", *args, env=env)


def test_first_sync_uploads_all_second_uploads_nothing(fake: FakeState, env, cli, tmp_path):
    expected = _tree(tmp_path / "local", 45, big_folder=1001)  # 45 files fill all 15 folders
    first = _sync(cli, env, tmp_path / "local", "-j", "16")
    assert first.exit_code == 0, first.stderr
    assert fake.stored_paths() == expected
    assert json.loads(first.stdout)["summary"]["uploaded"] == len(expected)
    fake.reset_log()
    second = _sync(cli, env, tmp_path / "local")
    assert second.exit_code == 0, second.stderr
    assert fake.requests_of("upload") == []
    big_pages = [r.query["skip"] for r in fake.requests_of("list")
                 if r.query["path"] == "/site/big/"]  # fmt: skip
    assert big_pages == ["0", "1000"]  # 1001 files in one folder: a second page
    folders = {r.query["path"] for r in fake.requests_of("list")}
    assert len(fake.requests_of("list")) == len(folders) + 1
    report = json.loads(second.stdout)
    assert report["summary"]["skipped"] == len(expected)
    assert {f["reason"] for f in report["files"]} == {"unchanged"}


def test_same_size_edit_is_uploaded_and_state_loss_fallback(fake, env, cli, tmp_path, isolated_env):
    local = tmp_path / "local"
    make_file(local / "a.txt", 100, 1)
    make_file(local / "b.txt", 100, 2)
    make_file(local / "c.txt", 100, 3)
    assert _sync(cli, env, local).exit_code == 0
    make_file(local / "a.txt", 100, 9)  # same size, new content and mtime
    os.utime(local / "a.txt", (time.time() + 5, time.time() + 5))
    fake.reset_log()
    result = _sync(cli, env, local)
    assert result.exit_code == 0, result.stderr
    assert [r.fields["fileName"] for r in fake.uploads_ok()] == ["a.txt"]
    assert len(fake.file_at("/site/a.txt").versions) == 2
    reasons = {Path(f["path"]).name: f["reason"] for f in json.loads(result.stdout)["files"]}
    assert reasons["a.txt"] == "content changed (same size)"

    # A touched but identical file is not re-uploaded: the hash matches.
    os.utime(local / "c.txt", (time.time() + 9, time.time() + 9))
    fake.reset_log()
    result = _sync(cli, env, local)
    assert fake.requests_of("upload") == []
    reasons = {Path(f["path"]).name: f["reason"] for f in json.loads(result.stdout)["files"]}
    assert reasons["c.txt"] == "unchanged (content hash matches)"

    # Documented fallback: without the state file, sync compares sizes only, so a
    # same-size edit made while the state is lost is not noticed.
    (isolated_env / "state" / "sync-state.sqlite3").unlink()
    make_file(local / "b.txt", 100, 7)
    fake.reset_log()
    result = _sync(cli, env, local)
    assert result.exit_code == 0
    assert fake.requests_of("upload") == []
    reasons = {Path(f["path"]).name: f["reason"] for f in json.loads(result.stdout)["files"]}
    assert reasons["b.txt"] == "unchanged (same size; no sync state)"
    # ...but the baseline is rebuilt, so the next edit is seen again.
    make_file(local / "b.txt", 100, 8)
    os.utime(local / "b.txt", (time.time() + 20, time.time() + 20))
    fake.reset_log()
    result = _sync(cli, env, local)
    assert [r.fields["fileName"] for r in fake.uploads_ok()] == ["b.txt"]


def test_delete_safety(fake: FakeState, env, cli: CliRecorder, tmp_path: Path) -> None:
    local = tmp_path / "local"
    for name in ("a.jpg", "b.jpg", "c.jpg", "keep/d.jpg", "raw/e.jpg"):
        make_file(local / name, 50)
    assert _sync(cli, env, local).exit_code == 0
    assert len(fake.stored_paths()) == 5
    (local / "a.jpg").unlink()
    (local / "b.jpg").unlink()
    (local / "raw" / "e.jpg").unlink()

    result = _sync(cli, env, local, "--exclude", "raw/")
    assert result.exit_code == 0
    assert len(fake.stored_paths()) == 5

    result = _sync(cli, env, local, "--exclude", "raw/", "--delete")
    assert result.exit_code == 2
    assert "Error: --delete needs --yes when not run from a terminal." in result.stderr

    result = _sync(cli, env, local, "--exclude", "raw/", "--delete", "--yes", "--max-delete", "1")
    assert result.exit_code == 1
    assert (
        "Error: 2 remote files would be deleted, more than --max-delete 1; nothing was "
        "deleted." in result.stderr
    )
    assert len(fake.stored_paths()) == 5
    assert fake.requests_of("bulk_delete") == []

    fake.reset_log()
    result = _sync(cli, env, local, "--exclude", "raw/", "--delete", "--yes", "--dry-run")
    assert result.exit_code == 0
    planned = [f["remote_path"] for f in json.loads(result.stdout)["files"]
               if f["status"] == "planned"]  # fmt: skip
    assert sorted(planned) == ["/site/a.jpg", "/site/b.jpg"]
    assert {r.kind for r in fake.requests} == {"list"}

    result = _sync(cli, env, local, "--exclude", "raw/", "--delete", "--yes")
    assert result.exit_code == 0, result.stderr
    assert fake.stored_paths() == {"/site/c.jpg", "/site/keep/d.jpg", "/site/raw/e.jpg"}
    deleted = [f["remote_path"] for f in json.loads(result.stdout)["files"]
               if f["status"] == "deleted"]  # fmt: skip
    assert sorted(deleted) == ["/site/a.jpg", "/site/b.jpg"]
    assert json.loads(result.stdout)["summary"]["deleted"] == 2


def test_no_delete_after_upload_failure(fake: FakeState, env, cli, tmp_path: Path) -> None:
    local = tmp_path / "local"
    make_file(local / "a.jpg", 50)
    make_file(local / "b.jpg", 50)
    assert _sync(cli, env, local).exit_code == 0
    (local / "a.jpg").unlink()
    make_file(local / "new.jpg", 50)
    fake.faults.fail_names["new.jpg"] = (400, "nope")
    result = _sync(cli, env, local, "--delete", "--yes")
    assert result.exit_code == 1
    assert "/site/a.jpg" in fake.stored_paths()
    assert "were not deleted" in result.stderr


def test_delete_with_shard_refused(fake, env, cli, tmp_path: Path) -> None:
    make_file(tmp_path / "a.jpg", 5)
    result = _sync(cli, env, tmp_path, "--delete", "--yes", "--shard", "1/2")
    assert result.exit_code == 2
    assert "--delete cannot be combined with --shard" in result.stderr


def test_list_429s_still_give_a_correct_sync(fake: FakeState, env, cli, tmp_path) -> None:
    local = tmp_path / "local"
    expected = _tree(local, 60)
    assert _sync(cli, env, local).exit_code == 0
    reset = {"X-RateLimit-Reset": "30", "X-RateLimit-Limit": "5", "X-RateLimit-Interval": "1000"}
    fake.script("list", *[(429, reset)] * 4)
    fake.reset_log()
    result = _sync(cli, env, local)
    assert result.exit_code == 0, result.stderr
    assert fake.requests_of("upload") == []
    assert sum(1 for r in fake.requests_of("list") if r.status == 429) == 4
    assert fake.stored_paths() == expected


def test_media_rate_limit_is_honoured(fake: FakeState, env, cli, tmp_path) -> None:
    local = tmp_path / "local"
    _tree(local, 40)
    assert _sync(cli, env, local).exit_code == 0
    fake.faults.media_rate_limit = (3, 200)
    fake.reset_log()
    result = _sync(cli, env, local)
    assert result.exit_code == 0, result.stderr
    assert fake.requests_of("upload") == []


def test_sanitised_names_uploaded_once(fake: FakeState, env, cli, tmp_path) -> None:
    local = tmp_path / "local"
    for name in ("my photo.jpg", "ünïcode name.png", "a#b.gif", "sub dir/x y.txt"):
        make_file(local / name, 30)
    assert _sync(cli, env, local).exit_code == 0
    assert fake.stored_paths() == {"/site/my_photo.jpg", "/site/ünïcode_name.png",
                                   "/site/a_b.gif", "/site/sub_dir/x_y.txt"}  # fmt: skip
    fake.reset_log()
    result = _sync(cli, env, local)
    assert result.exit_code == 0
    assert fake.requests_of("upload") == []


def test_sigkill_then_rerun_uploads_nothing_twice(fake: FakeState, env, tmp_path: Path) -> None:
    local = tmp_path / "local"
    expected = _tree(local, 120)
    fake.faults.upload_latency = 0.05
    cmd = [sys.executable, "-m", "imagekit_cli", "sync", str(local), "/site", "-j", "4",
           "--progress", "none", "-o", "json"]  # fmt: skip
    full_env = {**os.environ, **env}
    proc = subprocess.Popen(cmd, env=full_env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 30
    while len(fake.uploads_ok()) < 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    first_run = {r.file_path for r in fake.uploads_ok()}
    assert 40 <= len(first_run) < 120
    fake.faults.upload_latency = None
    fake.reset_log()
    done = subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    second_run = {r.file_path for r in fake.uploads_ok()}
    assert not first_run & second_run
    assert fake.stored_paths() == expected
    assert all(len(fake.file_at(p).versions) == 1 for p in expected)


@pytest.mark.parametrize("fmt", ["table", "json", "jsonl", "csv"])
def test_ls_matches_fake_state(fake: FakeState, env, cli, tmp_path: Path, fmt: str) -> None:
    local = tmp_path / "local"
    for name in ("a.jpg", "b c.png", "sub/d.txt", "sub/deeper/e.txt"):
        make_file(local / name, 10 + len(name))
    assert _sync(cli, env, local).exit_code == 0
    truth = {p: fake.file_at(p) for p in fake.stored_paths()}
    result = cli("ls", "/site", "-r", "-o", fmt, env=env)
    assert result.exit_code == 0, result.stderr
    if fmt == "json":
        records = json.loads(result.stdout)["files"]
    elif fmt == "jsonl":
        records = [json.loads(line) for line in result.stdout.splitlines()]
    elif fmt == "csv":
        records = list(csv.DictReader(io.StringIO(result.stdout)))
    else:
        for path, stored in truth.items():
            assert path[len("/site/") :] in result.stdout
            assert stored.file_path in result.stdout
        assert result.stderr.strip() == "4 file(s) in /site/ and below"
        return
    got = {r["path"]: (int(r["size"]), r["file_id"], r["url"]) for r in records}
    assert got == {
        p: (s.current.size, s.file_id, f"{fake.url_endpoint}{p}?updatedAt="
            f"{int(s.current.uploaded_at * 1000)}")
        for p, s in truth.items()
    }  # fmt: skip
    shallow = cli("ls", "/site", "-o", "json", env=env)
    body = json.loads(shallow.stdout)
    assert {f["path"] for f in body["files"]} == {"/site/a.jpg", "/site/b_c.png"}
    assert body["folders"] == ["/site/sub/"]


def test_delete_of_250_files_uses_bulk_calls_of_at_most_100(fake, env, cli, tmp_path) -> None:
    local = tmp_path / "local"
    for i in range(260):
        make_file(local / f"f{i}.txt", 5, i)
    assert _sync(cli, env, local, "-j", "16").exit_code == 0
    for i in range(250):
        (local / f"f{i}.txt").unlink()
    result = _sync(cli, env, local, "--delete", "--yes")
    assert result.exit_code == 0, result.stderr
    assert [int(r.fields["count"]) for r in fake.requests_of("bulk_delete")] == [100, 100, 50]
    assert fake.stored_paths() == {f"/site/f{i}.txt" for i in range(250, 260)}


def test_bulk_delete_404_falls_back_to_single_deletes(fake, env, cli, tmp_path) -> None:
    local = tmp_path / "local"
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        make_file(local / name, 5)
    assert _sync(cli, env, local).exit_code == 0
    (local / "a.jpg").unlink()
    (local / "b.jpg").unlink()
    # ImageKit answers 404 and deletes nothing when any id is already gone.
    fake.script("bulk_delete", (404, {}))
    result = _sync(cli, env, local, "--delete", "--yes")
    assert result.exit_code == 0, result.stderr
    assert fake.stored_paths() == {"/site/c.jpg"}
    assert len(fake.requests_of("delete")) == 2
