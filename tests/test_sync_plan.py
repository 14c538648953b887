"""Reviewable sync plans (#15): ``sync --plan-out`` and ``imagekit apply`` against the fake."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliRecorder, make_file
from tests.fake_imagekit import FakeState


@pytest.fixture(autouse=True)
def _in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """apply is run from the folder sync was run from: here, tmp_path."""
    monkeypatch.chdir(tmp_path)


def _tree(local: Path) -> None:
    make_file(local / "a.jpg", 50, 1)
    make_file(local / "b.jpg", 60, 2)
    make_file(local / "sub" / "c.jpg", 70, 3)


def _plan(cli: CliRecorder, env, local: Path, plan: Path, *args: str):
    return cli("sync", str(local), "/site", "--plan-out", str(plan), "-o", "json", *args, env=env)


def _apply(cli: CliRecorder, env, plan: Path, *args: str):
    return cli("apply", str(plan), "-o", "json", *args, env=env)


def _planned_tree(cli: CliRecorder, env, tmp_path: Path) -> tuple[Path, Path]:
    """A small tree under tmp_path/local, planned into tmp_path/plan.json."""
    local, plan = tmp_path / "local", tmp_path / "plan.json"
    _tree(local)
    planned = _plan(cli, env, local, plan)
    assert planned.exit_code == 0, planned.stderr
    return local, plan


def _by_name(stdout: str) -> dict[str, dict[str, Any]]:
    return {Path(f["path"]).name: f for f in json.loads(stdout)["files"]}


def test_plan_out_sends_nothing_and_apply_uploads_exactly_the_plan(
    fake: FakeState, env, cli: CliRecorder, tmp_path: Path
) -> None:
    local, plan = tmp_path / "local", tmp_path / "plan.json"
    _tree(local)
    planned = _plan(cli, env, local, plan)
    assert planned.exit_code == 0, planned.stderr
    assert {r.kind for r in fake.requests} == {"list"}  # no upload, no delete
    assert fake.stored_paths() == set()
    data = json.loads(plan.read_text())
    assert data["schema_version"] == 1
    assert data["remote_folder"] == "/site/"
    assert data["local_root"] == str(local)
    assert data["upload_options"]["overwrite"] is True
    uploads = {i["local"]: i for i in data["items"] if i["action"] == "upload"}
    assert set(uploads) == {"a.jpg", "b.jpg", "sub/c.jpg"}
    assert uploads["sub/c.jpg"]["remote_path"] == "/site/sub/c.jpg"
    assert uploads["a.jpg"]["mtime_ns"] == (local / "a.jpg").stat().st_mtime_ns
    assert {i["reason"] for i in uploads.values()} == {"new file"}
    assert "Plan written to" in planned.stderr

    make_file(local / "late.jpg", 40, 4)  # added after planning: not in the plan
    fake.reset_log()
    applied = _apply(cli, env, plan)
    assert applied.exit_code == 0, applied.stderr
    assert fake.stored_paths() == {"/site/a.jpg", "/site/b.jpg", "/site/sub/c.jpg"}
    assert len(fake.uploads_ok()) == 3
    results = _by_name(applied.stdout)
    assert "late.jpg" not in results
    assert results["a.jpg"]["status"] == "uploaded"
    assert results["a.jpg"]["reason"] == "new file"

    # The sync state was written as a sync run would: the next sync sees only late.jpg.
    fake.reset_log()
    again = cli("sync", str(local), "/site", "--dry-run", "-o", "json", env=env)
    reasons = {n: (f["status"], f["reason"]) for n, f in _by_name(again.stdout).items()}
    assert reasons["late.jpg"] == ("planned", "new file")
    assert reasons["a.jpg"] == ("skipped", "unchanged")


def test_file_changed_after_planning_fails(
    fake: FakeState, env, cli: CliRecorder, tmp_path: Path
) -> None:
    local, plan = _planned_tree(cli, env, tmp_path)
    make_file(local / "a.jpg", 55, 9)  # size changed
    later = time.time() + 30
    os.utime(local / "b.jpg", (later, later))  # same size, mtime changed
    fake.reset_log()
    applied = _apply(cli, env, plan)
    assert applied.exit_code == 1
    results = _by_name(applied.stdout)
    for name in ("a.jpg", "b.jpg"):
        assert results[name]["status"] == "failed"
        assert results[name]["reason"].startswith("changed since the plan"), results[name]
    assert [r.fields["fileName"] for r in fake.uploads_ok()] == ["c.jpg"]
    assert fake.stored_paths() == {"/site/sub/c.jpg"}


def _synced_then_removed(fake: FakeState, env, cli: CliRecorder, local: Path) -> None:
    _tree(local)
    make_file(local / "d.jpg", 30, 5)
    assert cli("sync", str(local), "/site", env=env).exit_code == 0
    (local / "a.jpg").unlink()
    (local / "d.jpg").unlink()
    fake.reset_log()


def test_planned_deletes_need_yes_and_respect_max_delete(
    fake: FakeState, env, cli: CliRecorder, tmp_path: Path
) -> None:
    local, plan = tmp_path / "local", tmp_path / "plan.json"
    _synced_then_removed(fake, env, cli, local)
    planned = _plan(cli, env, local, plan, "--delete")  # a plan needs no --yes
    assert planned.exit_code == 0, planned.stderr
    assert {r.kind for r in fake.requests} == {"list"}
    deletes = [i for i in json.loads(plan.read_text())["items"] if i["action"] == "delete"]
    assert sorted(d["remote_path"] for d in deletes) == ["/site/a.jpg", "/site/d.jpg"]
    assert all(d["file_id"] == fake.file_at(d["remote_path"]).file_id for d in deletes)

    fake.reset_log()
    refused = _apply(cli, env, plan)
    assert refused.exit_code == 2
    assert "needs --yes when not run from a terminal" in refused.stderr
    limited = _apply(cli, env, plan, "--yes", "--max-delete", "1")
    assert limited.exit_code == 1
    assert "deletes 2 remote files, more than --max-delete 1; nothing was sent" in limited.stderr
    assert fake.requests == []
    assert "/site/a.jpg" in fake.stored_paths()

    make_file(local / "e.jpg", 20, 6)  # a new local file is not uploaded by apply
    applied = _apply(cli, env, plan, "--yes", "--max-delete", "2")
    assert applied.exit_code == 0, applied.stderr
    assert fake.stored_paths() == {"/site/b.jpg", "/site/sub/c.jpg"}
    assert fake.requests_of("upload") == []
    statuses = {f["remote_path"]: f["status"] for f in json.loads(applied.stdout)["files"]}
    assert statuses["/site/a.jpg"] == statuses["/site/d.jpg"] == "deleted"


def test_planned_delete_already_gone_is_reported(
    fake: FakeState, env, cli: CliRecorder, tmp_path: Path
) -> None:
    local, plan = tmp_path / "local", tmp_path / "plan.json"
    _synced_then_removed(fake, env, cli, local)
    assert _plan(cli, env, local, plan, "--delete").exit_code == 0
    with fake.lock:  # someone removed d.jpg in the media library meanwhile
        fake.files.pop(fake.by_path.pop("/site/d.jpg"))
    applied = _apply(cli, env, plan, "--yes")
    assert applied.exit_code == 0, applied.stderr
    results = {f["remote_path"]: f for f in json.loads(applied.stdout)["files"]}
    assert results["/site/d.jpg"]["status"] == "skipped"
    assert results["/site/d.jpg"]["reason"].startswith("no longer on the remote")
    assert results["/site/a.jpg"]["status"] == "deleted"
    assert fake.stored_paths() == {"/site/b.jpg", "/site/sub/c.jpg"}


def test_stale_plan_refused_unless_max_age_allows(
    fake: FakeState, env, cli: CliRecorder, tmp_path: Path
) -> None:
    _, plan = _planned_tree(cli, env, tmp_path)
    data = json.loads(plan.read_text())
    two_days_ago = datetime.fromtimestamp(time.time() - 2 * 86400, UTC)
    data["created"] = two_days_ago.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    plan.write_text(json.dumps(data))
    fake.reset_log()
    stale = _apply(cli, env, plan)
    assert stale.exit_code == 2
    assert f"Plan {plan} was made 2d ago" in stale.stderr
    assert "more than --max-age 24h" in stale.stderr
    assert "--max-age 36h" in _apply(cli, env, plan, "--max-age", "36h").stderr
    assert _apply(cli, env, plan, "--max-age", "7d", "--dry-run").exit_code == 0
    assert fake.requests == []
    bad_flag = _apply(cli, env, plan, "--max-age", "soon")
    assert bad_flag.exit_code == 2
    assert "--max-age 'soon' is not a duration" in bad_flag.stderr
    accepted = _apply(cli, env, plan, "--max-age", "0")
    assert accepted.exit_code == 0, accepted.stderr
    assert len(fake.uploads_ok()) == 3


def test_malformed_plan_exits_2_naming_the_file(
    fake: FakeState, env, cli: CliRecorder, tmp_path: Path
) -> None:
    _, plan = _planned_tree(cli, env, tmp_path)
    good = json.loads(plan.read_text())
    cases = {
        "truncated": plan.read_text()[:40],
        "future schema": json.dumps({**good, "schema_version": 99}),
        "escaping item": json.dumps(
            {**good, "items": [{**good["items"][0], "local": "../secret.jpg"}]}
        ),
        "remote outside": json.dumps(
            {**good, "items": [{**good["items"][0], "remote_path": "/elsewhere/a.jpg"}]}
        ),
        "bad size": json.dumps({**good, "items": [{**good["items"][0], "size": "big"}]}),
    }
    fake.reset_log()
    for case, text in cases.items():
        bad = tmp_path / f"{case}.json"
        bad.write_text(text)
        result = _apply(cli, env, bad)
        assert result.exit_code == 2, (case, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, (case, lines)
        assert lines[0].startswith("Error: Plan "), (case, lines)
        assert str(bad) in lines[0], case
        assert "Traceback" not in result.stderr
    assert fake.requests == []


def test_apply_dry_run_and_url_map(fake: FakeState, env, cli: CliRecorder, tmp_path: Path) -> None:
    local, plan = tmp_path / "local", tmp_path / "plan.json"
    _tree(local)
    assert cli("sync", str(local), "/site", env=env).exit_code == 0
    make_file(local / "new.jpg", 10, 7)
    assert _plan(cli, env, local, plan).exit_code == 0
    fake.reset_log()
    dry = _apply(cli, env, plan, "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert fake.requests == []
    assert _by_name(dry.stdout)["new.jpg"]["status"] == "planned"
    urls, report = tmp_path / "urls.json", tmp_path / "apply-report.json"
    applied = _apply(cli, env, plan, "--url-map", str(urls), "--report", str(report))
    assert applied.exit_code == 0, applied.stderr
    written = json.loads(report.read_text())
    assert written["command"] == "apply"
    assert written["target"]["plan"] == str(plan)
    assert written["summary"]["uploaded"] == 1
    assert [r.fields["fileName"] for r in fake.uploads_ok()] == ["new.jpg"]
    mapped = json.loads(urls.read_text())
    assert set(mapped) == {"a.jpg", "b.jpg", "sub/c.jpg", "new.jpg"}
    assert mapped["new.jpg"].endswith("/site/new.jpg")


def test_planning_failure_carries_into_apply(
    fake: FakeState, env, cli: CliRecorder, tmp_path: Path
) -> None:
    local, plan = tmp_path / "local", tmp_path / "plan.json"
    make_file(local / "v 1" / "a.jpg", 30, 2)
    make_file(local / "v_1" / "a.jpg", 31, 3)  # both would be stored at /site/v_1/a.jpg
    planned = _plan(cli, env, local, plan)
    assert planned.exit_code == 1
    actions = sorted(i["action"] for i in json.loads(plan.read_text())["items"])
    assert actions == ["fail", "upload"]
    fake.reset_log()
    applied = _apply(cli, env, plan)
    assert applied.exit_code == 1
    failed = [f for f in json.loads(applied.stdout)["files"] if f["status"] == "failed"]
    assert len(failed) == 1
    assert failed[0]["reason"].startswith("collides with")
    assert len(fake.uploads_ok()) == 1


def test_failure_at_apply_keeps_planned_deletes(
    fake: FakeState, env, cli: CliRecorder, tmp_path: Path
) -> None:
    local, plan = tmp_path / "local", tmp_path / "plan.json"
    _synced_then_removed(fake, env, cli, local)
    make_file(local / "new.jpg", 10, 8)
    assert _plan(cli, env, local, plan, "--delete").exit_code == 0
    make_file(local / "new.jpg", 12, 8)  # changed after planning: fails, so nothing is deleted
    fake.reset_log()
    applied = _apply(cli, env, plan, "--yes")
    assert applied.exit_code == 1
    assert "were not deleted" in applied.stderr
    assert {"/site/a.jpg", "/site/d.jpg"} <= fake.stored_paths()
    assert fake.requests_of("bulk_delete") == []
    assert fake.requests_of("delete") == []


def test_unwritable_plan_out_is_refused_before_listing(
    fake: FakeState, env, cli: CliRecorder, tmp_path: Path
) -> None:
    _tree(tmp_path / "local")
    make_file(tmp_path / "afile", 3)
    target = tmp_path / "afile" / "plan.json"
    result = _plan(cli, env, tmp_path / "local", target)
    assert result.exit_code == 2
    assert f"--plan-out {target}: cannot write there" in result.stderr
    assert fake.requests == []


def test_emptied_folders_stay_out_of_the_plan(
    fake: FakeState, env, cli: CliRecorder, tmp_path: Path
) -> None:
    local, plan = tmp_path / "local", tmp_path / "plan.json"
    make_file(local / "keep.jpg", 10, 1)
    make_file(local / "old" / "x.jpg", 11, 2)
    assert cli("sync", str(local), "/site", env=env).exit_code == 0
    (local / "old" / "x.jpg").unlink()
    (local / "old").rmdir()
    planned = _plan(cli, env, local, plan, "--delete")
    assert planned.exit_code == 0, planned.stderr
    assert "1 emptied folder(s) are not in it" in planned.stderr
    items = json.loads(plan.read_text())["items"]
    assert [i["remote_path"] for i in items if i["action"] == "delete"] == ["/site/old/x.jpg"]
    fake.reset_log()
    assert _apply(cli, env, plan, "--yes").exit_code == 0
    assert fake.stored_paths() == {"/site/keep.jpg"}
    assert fake.requests_of("folder") == []
    # ...which a later sync --delete removes.
    assert cli("sync", str(local), "/site", "--delete", "--yes", env=env).exit_code == 0
    assert len(fake.requests_of("folder")) == 1


def test_plan_keeps_the_upload_fields(fake: FakeState, env, cli: CliRecorder, tmp_path) -> None:
    local, plan = tmp_path / "local", tmp_path / "plan.json"
    _tree(local)
    assert _plan(cli, env, local, plan, "--tags", "review,ci").exit_code == 0
    assert json.loads(plan.read_text())["upload_options"]["tags"] == ["review", "ci"]
    fake.reset_log()
    assert _apply(cli, env, plan).exit_code == 0
    assert {r.fields.get("tags") for r in fake.uploads_ok()} == {"review,ci"}
    assert {r.fields.get("folder") for r in fake.uploads_ok()} == {"/site/", "/site/sub/"}


def _edited(plan: Path, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(plan.read_text())
    data.update(changes)
    return data


def _refused_one_line(cli: CliRecorder, env, plan: Path) -> str:
    result = _apply(cli, env, plan)
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert str(plan) in lines[0]
    assert "Traceback" not in result.stderr
    assert "nexpected" not in result.stderr
    return str(lines[0])


def test_edited_local_root_cannot_reach_outside(
    fake: FakeState, env, cli: CliRecorder, tmp_path: Path
) -> None:
    _, plan = _planned_tree(cli, env, tmp_path)
    st = os.stat("/etc/passwd")
    steal = {"action": "upload", "local": "passwd", "remote_path": "/site/passwd.png",
             "size": st.st_size, "mtime_ns": st.st_mtime_ns, "reason": "new file"}  # fmt: skip
    fake.reset_log()
    for root in ("/etc", "../" * len(tmp_path.parts) + "etc"):
        plan.write_text(json.dumps(_edited(plan, local_root=root, items=[steal])))
        line = _refused_one_line(cli, env, plan)
        assert f"its local folder '{root}' is not inside the current folder" in line
        assert "run from the folder sync --plan-out was run from" in line
    # Inside the current folder, the item still goes where sync would put it, or nowhere.
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_bytes(b"x" * 20)
    st = os.stat(tmp_path / "etc" / "passwd")
    steal.update(size=20, mtime_ns=st.st_mtime_ns)
    plan.write_text(json.dumps(_edited(plan, local_root="etc", items=[steal])))
    line = _refused_one_line(cli, env, plan)
    assert "item 1 ('passwd') goes to '/site/passwd.png'" in line
    assert "sync stores it at '/site/passwd'" in line
    renamed = {**steal, "remote_path": "/site/passwd"}
    plan.write_text(json.dumps(_edited(plan, local_root="etc", items=[renamed])))
    line = _refused_one_line(cli, env, plan)
    assert "item 1 ('passwd') is not a file sync uploads (type not allowed)" in line
    assert fake.requests == []


def test_type_rules_of_the_plan_apply(
    fake: FakeState, env, cli: CliRecorder, tmp_path: Path
) -> None:
    local, plan = tmp_path / "local", tmp_path / "plan.json"
    make_file(local / "notes.xyz", 30, 1)
    assert _plan(cli, env, local, plan, "--any-type").exit_code == 0
    assert json.loads(plan.read_text())["policy"]["any_type"] is True
    fake.reset_log()
    assert _apply(cli, env, plan).exit_code == 0
    assert fake.stored_paths() == {"/site/notes.xyz"}
    data = json.loads(plan.read_text())
    data["policy"]["any_type"] = False
    plan.write_text(json.dumps(data))
    assert "(type not allowed)" in _refused_one_line(cli, env, plan)


def test_symlink_swapped_in_after_planning_is_not_followed(
    fake: FakeState, env, cli: CliRecorder, tmp_path: Path
) -> None:
    local, plan = _planned_tree(cli, env, tmp_path)
    outside = tmp_path / "secret.jpg"
    outside.write_bytes(b"s" * 50)  # a.jpg's planned size
    planned_ns = (local / "a.jpg").stat().st_mtime_ns
    os.utime(outside, ns=(planned_ns, planned_ns))
    (local / "a.jpg").unlink()
    (local / "a.jpg").symlink_to(outside)
    moved = tmp_path / "elsewhere"  # and a planned folder swapped for a link out of the tree
    (local / "sub").rename(moved)
    (local / "sub").symlink_to(moved)
    fake.reset_log()
    applied = _apply(cli, env, plan)
    assert applied.exit_code == 1
    results = _by_name(applied.stdout)
    assert results["a.jpg"]["status"] == "failed"
    assert results["a.jpg"]["reason"].startswith("changed since the plan: now a symlink")
    assert results["c.jpg"]["status"] == "failed"
    assert "now outside" in results["c.jpg"]["reason"]
    assert fake.stored_paths() == {"/site/b.jpg"}


def test_plan_dated_in_the_future_is_refused(
    fake: FakeState, env, cli: CliRecorder, tmp_path: Path
) -> None:
    _, plan = _planned_tree(cli, env, tmp_path)
    plan.write_text(json.dumps(_edited(plan, created="2999-01-01T00:00:00.000Z")))
    fake.reset_log()
    for extra in ((), ("--max-age", "0")):
        result = _apply(cli, env, plan, *extra)
        assert result.exit_code == 2
        assert f"Plan {plan} is dated 2999-01-01T00:00:00.000Z, in the future" in result.stderr
    assert fake.requests == []


def test_malformed_plans_are_named_not_crashes(
    fake: FakeState, env, cli: CliRecorder, tmp_path: Path
) -> None:
    _, plan = _planned_tree(cli, env, tmp_path)
    good = json.loads(plan.read_text())
    first = next(i for i in good["items"] if i["local"] == "a.jpg")
    items = lambda *its: {**good, "items": list(its)}  # noqa: E731
    cases: dict[str, tuple[str, str]] = {
        "deep": ("[" * 100_000 + "]" * 100_000, "nested too deep"),
        "null": (json.dumps(items({**first, "local": "a.jpg\u0000x"})), "control characters"),
        "dot": (json.dumps(items({**first, "local": "."})), "upload names no local file"),
        "negative limit": (
            json.dumps({**good, "sync": {**good["sync"], "max_delete": -5}}),
            "max_delete",
        ),
        "huge size": (json.dumps(items({**first, "size": 10**400})), "out of range"),
        "skip size": (
            json.dumps(
                items({"action": "skip", "local": "x", "remote_path": "/site/x", "size": "big"})
            ),
            "invalid size",
        ),
        "same local": (json.dumps(items(first, first)), "repeats item 1 ('a.jpg')"),
        "string version": (
            json.dumps({**good, "schema_version": "1"}),
            "schema_version must be the number 1",
        ),
    }
    fake.reset_log()
    for case, (text, expected) in cases.items():
        bad = tmp_path / f"{case.replace(' ', '-')}.json"
        bad.write_text(text)
        line = _refused_one_line(cli, env, bad)
        assert expected in line, (case, line)
        assert "0" * 50 not in line
    assert fake.requests == []


def test_same_remote_path_twice_is_refused(
    fake: FakeState, env, cli: CliRecorder, tmp_path: Path
) -> None:
    local, plan = tmp_path / "local", tmp_path / "plan.json"
    make_file(local / "a b.jpg", 30, 1)
    make_file(local / "a_b.jpg", 30, 1)
    _plan(cli, env, local, plan)
    data = json.loads(plan.read_text())
    upload = next(i for i in data["items"] if i["action"] == "upload")
    twin = (local / ("a_b.jpg" if upload["local"] == "a b.jpg" else "a b.jpg")).stat()
    other = {**upload, "local": "a_b.jpg" if upload["local"] == "a b.jpg" else "a b.jpg",
             "mtime_ns": twin.st_mtime_ns}  # fmt: skip
    plan.write_text(json.dumps({**data, "items": [upload, other]}))
    fake.reset_log()
    assert "repeats item 1 ('/site/a_b.jpg')" in _refused_one_line(cli, env, plan)
    assert fake.requests == []


def test_plan_out_message_reads_cleanly(
    fake: FakeState, env, cli: CliRecorder, tmp_path: Path
) -> None:
    local, plan = tmp_path / "local", tmp_path / "plan.json"
    _tree(local)
    planned = _plan(cli, env, local, plan)
    assert "0 failed. Apply it with: imagekit apply" in planned.stderr
    assert "failed0" not in planned.stderr


def test_follow_symlinks_plan_applies_links_inside_the_tree(
    fake: FakeState, env, cli: CliRecorder, tmp_path: Path
) -> None:
    local, plan = tmp_path / "local", tmp_path / "plan.json"
    make_file(local / "real" / "a.jpg", 30, 1)
    (local / "link.jpg").symlink_to(local / "real" / "a.jpg")
    assert _plan(cli, env, local, plan, "--follow-symlinks").exit_code == 0
    assert json.loads(plan.read_text())["policy"]["follow_symlinks"] is True
    fake.reset_log()
    assert _apply(cli, env, plan).exit_code == 0
    assert fake.stored_paths() == {"/site/link.jpg", "/site/real/a.jpg"}
