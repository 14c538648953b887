"""Sync never loses, leaks or duplicates a file (#10 items 1, 4, 5, 7, 9): end to end
against the fake, which sanitises folders and honours the overwrite* flags as documented."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliRecorder, CliResult, make_file
from tests.fake_imagekit import FakeState


def _sync(cli: CliRecorder, env: dict[str, str], local: Path, folder: str, *args: str) -> CliResult:
    return cli("sync", str(local), folder, "-o", "json", *args, env=env)


def _summary(result: CliResult) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads(result.stdout)["summary"]
    return summary


def _dotted_tree(root: Path) -> None:
    make_file(root / "v1.2" / "a.txt", 11, 1)
    make_file(root / ".well-known" / "security.txt", 12, 2)
    make_file(root / "plain.txt", 13, 3)


WK = {"/wk/v1_2/a.txt", "/wk/_well-known/security.txt", "/wk/plain.txt"}


def test_sync_delete_keeps_what_it_uploaded_and_reruns_settle(
    fake: FakeState, env, cli, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    _dotted_tree(site)
    plan = _sync(cli, env, site, "/wk", "--hidden", "--dry-run")
    assert {f["remote_path"] for f in json.loads(plan.stdout)["files"]} == WK  # plan = stored
    first = _sync(cli, env, site, "/wk", "--hidden")
    assert first.exit_code == 0, first.stderr
    assert fake.stored_paths() == WK
    assert {r.fields["folder"] for r in fake.uploads_ok()} == {"/wk/v1_2/", "/wk/_well-known/",
                                                               "/wk/"}  # fmt: skip
    for _ in range(2):  # the second and third run: nothing to upload, nothing to delete
        fake.reset_log()
        again = _sync(cli, env, site, "/wk", "--hidden", "--delete", "--yes")
        assert again.exit_code == 0, again.stderr
        assert (_summary(again)["uploaded"], _summary(again)["deleted"]) == (0, 0)
        assert fake.requests_of("upload") == []
        assert fake.stored_paths() == WK


def test_target_folder_is_sanitised_before_sending(fake: FakeState, env, cli, tmp_path) -> None:
    make_file(tmp_path / "site" / "a.txt", 10)
    first = _sync(cli, env, tmp_path / "site", "/rel/v2.0", "--delete", "--yes")
    assert first.exit_code == 0, first.stderr
    assert json.loads(first.stdout)["target"]["folder"] == "/rel/v2_0/"
    assert fake.stored_paths() == {"/rel/v2_0/a.txt"}
    assert [r.fields["folder"] for r in fake.uploads_ok()] == ["/rel/v2_0/"]
    again = _sync(cli, env, tmp_path / "site", "/rel/v2.0", "--delete", "--yes")
    assert (_summary(again)["uploaded"], _summary(again)["deleted"]) == (0, 0)


def test_a_path_stored_elsewhere_is_mapped_and_never_deleted(
    fake: FakeState, env, cli, tmp_path: Path, isolated_env: Path
) -> None:
    site = tmp_path / "site"
    make_file(site / "a.txt", 10)
    make_file(site / "b.txt", 20)
    fake.faults.store_as["a.txt"] = "a_elsewhere.txt"  # ImageKit renamed it unexpectedly
    first = _sync(cli, env, site, "/s")
    assert first.exit_code == 0, first.stderr
    assert first.stderr.count("at another path than predicted") == 1
    assert "/s/a_elsewhere.txt" in first.stderr
    for _ in range(2):  # the mapping is remembered: in sync, nothing deleted
        again = _sync(cli, env, site, "/s", "--delete", "--yes")
        assert (_summary(again)["uploaded"], _summary(again)["deleted"]) == (0, 0), again.stdout
        assert "another path" not in again.stderr
    assert fake.stored_paths() == {"/s/a_elsewhere.txt", "/s/b.txt"}

    # Without the state the same run uploads a.txt again; the delete phase must not then
    # delete the file that upload returned.
    (isolated_env / "state" / "sync-state.sqlite3").unlink()
    lost = _sync(cli, env, site, "/s", "--delete", "--yes")
    assert lost.exit_code == 0, lost.stderr
    assert _summary(lost)["deleted"] == 0
    assert fake.stored_paths() == {"/s/a_elsewhere.txt", "/s/b.txt"}


@pytest.mark.parametrize("folder", ["", "   ", "."])
def test_blank_remote_folder_is_refused_before_any_request(
    fake: FakeState, env, cli, tmp_path: Path, folder: str
) -> None:
    make_file(tmp_path / "pub" / "a.txt", 10)
    make_file(tmp_path / "other.txt", 10)
    synced = cli("sync", str(tmp_path / "pub"), folder, "--delete", "--yes", env=env)
    uploaded = cli("upload", str(tmp_path / "other.txt"), "--folder", folder, env=env)
    for result in (synced, uploaded):
        assert result.exit_code == 2, result.stderr
        assert "write '/'" in result.stderr
        assert "Traceback" not in result.stderr
    assert "REMOTE_FOLDER" in synced.stderr
    assert "--folder" in uploaded.stderr
    assert fake.requests == []
    explicit = cli("sync", str(tmp_path / "pub"), "/", env=env)
    assert explicit.exit_code == 0, explicit.stderr
    assert fake.stored_paths() == {"/a.txt"}


AUTO_TAGS = '[{"name": "google-auto-tagging", "minConfidence": 80, "maxTags": 5}]'


def test_tags_and_metadata_survive_a_content_changing_sync(
    fake: FakeState, env, cli, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    make_file(site / "a.txt", 10)
    set_up = cli("upload", str(site / "a.txt"), "--folder", "/t", "--tags", "keep,me",
                 "--custom-metadata", '{"owner": "ops"}', "--extensions", AUTO_TAGS,
                 env=env)  # fmt: skip
    assert set_up.exit_code == 0, set_up.stderr
    make_file(site / "a.txt", 30, 7)  # new content
    result = _sync(cli, env, site, "/t")
    assert result.exit_code == 0, result.stderr
    stored = fake.file_at("/t/a.txt")
    assert len(stored.versions) == 2
    assert stored.tags == ["keep", "me"]
    assert stored.custom_metadata == {"owner": "ops"}
    assert stored.ai_tags
    assert stored.ai_tags[0]["name"] == "fake-label"
    sent = fake.uploads_ok()[-1].fields
    assert sent["overwriteTags"] == sent["overwriteCustomMetadata"] == "false"
    assert sent["overwriteAITags"] == "false"

    make_file(site / "a.txt", 40, 8)
    chosen = _sync(cli, env, site, "/t", "--tags", "new", "--custom-metadata", '{"owner": "web"}')
    assert chosen.exit_code == 0, chosen.stderr
    stored = fake.file_at("/t/a.txt")
    assert (stored.tags, stored.custom_metadata) == (["new"], {"owner": "web"})
    make_file(site / "a.txt", 50, 9)
    assert _sync(cli, env, site, "/t", "--tags", "").exit_code == 0
    assert fake.file_at("/t/a.txt").tags is None  # '' clears, on purpose


def test_resume_counts_only_for_the_same_destination(fake: FakeState, env, cli, tmp_path) -> None:
    make_file(tmp_path / "t" / "a.txt", 10)
    make_file(tmp_path / "t" / "b.txt", 20)
    journal = tmp_path / "run.jsonl"
    first = cli("upload", str(tmp_path / "t"), "--folder", "/one", "--report", str(journal),
                env=env)  # fmt: skip
    assert first.exit_code == 0, first.stderr
    other = cli("upload", str(tmp_path / "t"), "--folder", "/other", "--resume", str(journal),
                "-o", "json", env=env)  # fmt: skip
    assert other.exit_code == 0, other.stderr
    assert fake.stored_paths() >= {"/other/a.txt", "/other/b.txt"}
    assert _summary(other)["uploaded"] == 2
    fake.reset_log()
    same = cli("upload", str(tmp_path / "t"), "--folder", "/one", "--resume", str(journal),
               env=env)  # fmt: skip
    assert same.exit_code == 0
    assert fake.requests_of("upload") == []
    (tmp_path / "x").mkdir()
    respelled = cli("upload", str(tmp_path / "x" / ".." / "t"), "--folder", "/one", "--resume",
                    str(journal), env=env)  # fmt: skip
    assert respelled.exit_code == 0  # the same files, spelled another way
    assert fake.requests_of("upload") == []


def test_sync_delete_removes_folders_it_emptied(fake: FakeState, env, cli, tmp_path) -> None:
    site = tmp_path / "site"
    make_file(site / "keep" / "x.txt", 10)
    make_file(site / "old" / "deep" / "y.txt", 10)
    make_file(site / "old" / "z.txt", 10)
    make_file(site / "drafts" / "d.txt", 10)
    assert _sync(cli, env, site, "/s").exit_code == 0
    for path in ("old/deep/y.txt", "old/z.txt", "drafts/d.txt"):
        (site / path).unlink()
    (site / "old" / "deep").rmdir()
    (site / "old").rmdir()
    (site / "drafts").rmdir()
    args = ("--delete", "--yes", "--exclude", "drafts/")
    plan = _sync(cli, env, site, "/s", *args, "--dry-run")
    planned = {f["remote_path"] for f in json.loads(plan.stdout)["files"]
               if f["status"] == "planned"}  # fmt: skip
    assert planned == {"/s/old/deep/y.txt", "/s/old/z.txt", "/s/old/"}
    result = _sync(cli, env, site, "/s", *args)
    assert result.exit_code == 0, result.stderr
    deleted = {f["remote_path"] for f in json.loads(result.stdout)["files"]
               if f["status"] == "deleted"}  # fmt: skip
    assert deleted == {"/s/old/deep/y.txt", "/s/old/z.txt", "/s/old/"}
    assert [r.method for r in fake.requests_of("folder")] == ["DELETE"]
    with fake.lock:
        folders = set(fake.folders)
    assert "/s/old/" not in folders
    assert "/s/old/deep/" not in folders
    assert {"/s/", "/s/keep/", "/s/drafts/"} <= folders  # local, and excluded, folders stay
    assert fake.stored_paths() == {"/s/keep/x.txt", "/s/drafts/d.txt"}
    again = _sync(cli, env, site, "/s", *args)
    assert _summary(again)["deleted"] == 0


def test_unwritable_state_dir_warns_and_sync_goes_on(fake: FakeState, env, cli, tmp_path) -> None:
    make_file(tmp_path / "site" / "a.txt", 10)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the state folder should be")
    env = {**env, "IMAGEKIT_STATE_DIR": str(blocker / "state")}
    result = _sync(cli, env, tmp_path / "site", "/s")
    assert result.exit_code == 0, result.stderr
    assert f"sync state {blocker / 'state'}" in result.stderr
    assert "syncing without it" in result.stderr
    assert fake.stored_paths() == {"/s/a.txt"}
    os.utime(tmp_path / "site" / "a.txt", (time.time() + 5, time.time() + 5))
    again = _sync(cli, env, tmp_path / "site", "/s")  # sizes decide without state
    assert (again.exit_code, _summary(again)["uploaded"]) == (0, 0)


def test_state_file_from_before_stored_paths_is_upgraded(
    fake: FakeState, env, cli, tmp_path: Path, isolated_env: Path
) -> None:
    state_dir = isolated_env / "state"
    state_dir.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(state_dir / "sync-state.sqlite3") as db:
        db.execute("CREATE TABLE files (base_url TEXT, root TEXT, rel TEXT, size INT, mtime REAL,"
                   " sha256 TEXT, file_id TEXT, version_id TEXT,"
                   " PRIMARY KEY (base_url, root, rel))")  # fmt: skip
    make_file(tmp_path / "site" / "a.txt", 10)
    assert _sync(cli, env, tmp_path / "site", "/s").exit_code == 0
    again = _sync(cli, env, tmp_path / "site", "/s")
    assert (again.exit_code, _summary(again)["uploaded"]) == (0, 0)
    assert "sync state" not in again.stderr
