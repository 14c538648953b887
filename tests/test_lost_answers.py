"""Exactly once when the answer is lost after ImageKit stored the file (issue #10, item 6).

The fake stores the upload first and then drops the connection (or answers too late);
the CLI must look before sending again, adopt what landed, and give every attempt
credentials never used before.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import socket
from pathlib import Path
from typing import Any

import pytest

from imagekit_cli.auth import BasicAuthSigner
from imagekit_cli.client import ImageKitClient, UploadRequest
from imagekit_cli.config import Secret
from imagekit_cli.errors import AnswerLostError, TransportError
from imagekit_cli.lookup import CONFIRMED, NO_KEY_WARNING, Target, iso_utc
from tests.conftest import PRIVATE_KEY, PUBLIC_KEY, CliRecorder, make_file
from tests.fake_imagekit import FakeState
from tests.signing_backend import Backend, running

pytestmark = pytest.mark.usefixtures("quick_backoff")

COUNT = 6
NAMING = {
    "exact": (),
    "unique": ("--unique-names",),
    "no-overwrite": ("--no-overwrite",),
}


def _tree(root: Path, count: int = COUNT) -> Path:
    for i in range(count):
        make_file(root / f"f{i}.txt", 40 + i, i)
    return root


def _upload(
    cli: CliRecorder, env: dict[str, str], root: Path, *extra: str
) -> tuple[Any, dict[str, Any]]:
    result = cli("upload", str(root), "--folder", "/lost", "-o", "json", "--progress", "none",
                 *extra, env=env)  # fmt: skip
    report = json.loads(result.stdout) if result.stdout.startswith("{") else {}
    return result, report


def _lose_first_answer(fake: FakeState) -> None:
    """Only the first upload is stored and then has its answer dropped."""
    uploads = 0

    def on_upload() -> None:
        nonlocal uploads
        uploads += 1
        fake.faults.drop_after_store_rate = 1.0 if uploads == 1 else 0.0

    fake.on_upload = on_upload


def _assert_one_file_one_version_each(
    fake: FakeState, report: dict[str, Any], unique: bool
) -> None:
    paths = fake.stored_paths()
    assert len(paths) == COUNT, sorted(paths)
    for path in paths:
        assert len(fake.file_at(path).versions) == 1, path
    if unique:
        stems = sorted(re.sub(r"_[\w-]{9}\.txt$", "", p) for p in paths)
        assert stems == [f"/lost/f{i}" for i in range(COUNT)]
    else:
        assert paths == {f"/lost/f{i}.txt" for i in range(COUNT)}
    records = report["files"]
    assert len(records) == COUNT
    assert {r["status"] for r in records} == {"uploaded"}
    for record in records:
        stored = fake.file_at(record["remote_path"])
        assert record["file_id"] == stored.file_id
        assert record["url"].endswith(record["remote_path"])


@pytest.mark.parametrize("naming", list(NAMING))
@pytest.mark.parametrize("auth", ["private-key", "signature", "jwt"])
def test_every_lost_answer_is_adopted_not_sent_again(
    fake: FakeState, env: dict[str, str], cli: CliRecorder, tmp_path: Path, auth: str, naming: str
) -> None:
    root = _tree(tmp_path / "t")
    fake.faults.drop_after_store_rate = 1.0  # every upload is stored, its answer lost
    result, report = _upload(cli, env, root, "--auth", auth, "-j", "3", *NAMING[naming])
    assert result.exit_code == 0, result.stderr
    _assert_one_file_one_version_each(fake, report, naming == "unique")
    assert len(fake.requests_of("upload")) == COUNT  # looked, found, never re-sent
    assert {r["reason"] for r in report["files"]} == {CONFIRMED}
    assert {r["attempts"] for r in report["files"]} == {2}
    sha = {r["remote_path"]: r["sha256"] for r in report["files"]}
    assert all(sha[p] == fake.file_at(p).current.sha256 for p in sha)
    if auth != "private-key":
        assert len(fake.used_tokens) == COUNT


@pytest.mark.parametrize("naming", list(NAMING))
def test_mixed_lost_answers_with_retries_store_each_file_once(
    fake: FakeState, env: dict[str, str], cli: CliRecorder, tmp_path: Path, naming: str
) -> None:
    root = _tree(tmp_path / "t")
    fake.faults.drop_after_store_rate = 0.5
    fake.faults.drop_rate = 0.2  # some are lost before storing: those must be sent again
    result, report = _upload(cli, env, root, "--auth", "jwt", "-j", "1", "--retries", "10",
                             *NAMING[naming])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    _assert_one_file_one_version_each(fake, report, naming == "unique")
    assert "used before" not in result.stderr
    confirmed = [r["reason"] == CONFIRMED for r in report["files"] if r["attempts"] > 1]
    assert any(confirmed)
    assert not all(confirmed)


def test_no_answer_before_the_timeout_is_looked_up(
    fake: FakeState, env: dict[str, str], cli: CliRecorder, tmp_path: Path
) -> None:
    root = _tree(tmp_path / "t")
    fake.faults.slow_answer_rate, fake.faults.slow_answer_seconds = 1.0, 3.0
    result, report = _upload(cli, env, root, "--timeout", "1", "-j", str(COUNT),
                             "--no-overwrite")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    _assert_one_file_one_version_each(fake, report, unique=False)
    assert {r["reason"] for r in report["files"]} == {CONFIRMED}


def test_a_rate_limited_lookup_waits_instead_of_failing(
    fake: FakeState, env: dict[str, str], cli: CliRecorder, tmp_path: Path
) -> None:
    root = _tree(tmp_path / "t")
    fake.faults.drop_after_store_rate = 1.0
    fake.faults.media_rate_limit = (1, 300)  # one list call per 0.3 s
    result, report = _upload(cli, env, root, "-j", str(COUNT), "--unique-names")
    assert result.exit_code == 0, result.stderr
    _assert_one_file_one_version_each(fake, report, unique=True)
    assert any(r.status == 429 for r in fake.requests_of("list"))


@pytest.mark.parametrize("trouble", ["500", "slow"])
def test_a_failed_lookup_falls_back_to_sending_again(
    fake: FakeState, env: dict[str, str], cli: CliRecorder, tmp_path: Path, trouble: str
) -> None:
    make_file(tmp_path / "t" / "a.txt", 100)
    _lose_first_answer(fake)
    extra: tuple[str, ...] = ()
    if trouble == "500":
        fake.script("list", (500, {}))
    else:
        fake.faults.latency, fake.faults.upload_latency = 3.0, 0.0
        extra = ("--timeout", "1")
    result, report = _upload(cli, env, tmp_path / "t", *extra)
    assert result.exit_code == 0, result.stderr
    [record] = report["files"]
    assert record["status"] == "uploaded"
    assert record["reason"] != CONFIRMED
    assert len(fake.requests_of("list")) == 1
    assert len(fake.file_at("/lost/a.txt").versions) == 2  # the documented fallback


def test_already_exists_after_a_lost_answer_is_looked_up_again(
    fake: FakeState, env: dict[str, str], cli: CliRecorder, tmp_path: Path
) -> None:
    make_file(tmp_path / "t" / "a.txt", 100)
    _lose_first_answer(fake)
    fake.script("list", (500, {}))  # the first lookup fails, so the file is sent again
    result, report = _upload(cli, env, tmp_path / "t", "--no-overwrite")
    assert result.exit_code == 0, result.stderr
    [record] = report["files"]
    assert (record["status"], record["reason"]) == ("uploaded", CONFIRMED)
    assert [r.status for r in fake.requests_of("upload")] == [0, 400]
    assert len(fake.file_at("/lost/a.txt").versions) == 1


def test_clear_failures_are_retried_without_a_lookup(
    fake: FakeState, env: dict[str, str], cli: CliRecorder, tmp_path: Path
) -> None:
    make_file(tmp_path / "t" / "a.txt", 100)
    fake.script("upload", (500, {}), (503, {}))
    result, report = _upload(cli, env, tmp_path / "t")
    assert result.exit_code == 0, result.stderr
    assert report["files"][0]["attempts"] == 3
    assert fake.requests_of("list") == []


@pytest.mark.parametrize("auth", ["signature", "jwt"])
def test_signing_backend_runs_get_fresh_credentials_and_say_they_cannot_look(
    fake: FakeState, cli: CliRecorder, tmp_path: Path, auth: str
) -> None:
    root = _tree(tmp_path / "t")
    fake.faults.drop_after_store_rate = 0.5
    same_second = Backend(clock=lambda: 1_900_000_000.0)  # JWTs differ all the same
    with running(same_second if auth == "jwt" else Backend()) as backend:
        env = {"IMAGEKIT_PUBLIC_KEY": PUBLIC_KEY, "IMAGEKIT_BASE_URL": fake.base_url,
               "IMAGEKIT_AUTH_ENDPOINT": backend.url}  # fmt: skip
        result, report = _upload(cli, env, root, "--auth", auth, "-j", "1", "--retries", "10")
    assert result.exit_code == 0, result.stderr
    assert {r["status"] for r in report["files"]} == {"uploaded"}
    assert fake.stored_paths() == {f"/lost/f{i}.txt" for i in range(COUNT)}
    attempts = fake.requests_of("upload")
    assert len(attempts) > COUNT  # some answers were lost and the files sent again
    assert len(fake.used_tokens) == len(attempts)
    assert "used before" not in result.stderr
    assert result.stderr.count(NO_KEY_WARNING) == 1
    assert fake.requests_of("list") == []


# --- the client tells an ambiguous failure from a clear one ------------------------------


def _send_one(base_url: str, path: Path) -> None:
    async def go() -> None:
        async with ImageKitClient(base_url, timeout=5) as client:
            signer = BasicAuthSigner(Secret(PRIVATE_KEY))
            fields = {"fileName": path.name, "useUniqueFileName": "false"}
            request = UploadRequest(fields, path, path.stat().st_size)
            await client.upload(request, await signer.sign(fields))

    asyncio.run(go())


def test_a_drop_after_the_body_was_sent_is_ambiguous(fake: FakeState, tmp_path: Path) -> None:
    path = make_file(tmp_path / "a.bin", 300_000)
    fake.faults.drop_after_store_rate = 1.0
    with pytest.raises(AnswerLostError) as caught:
        _send_one(fake.base_url, path)
    assert caught.value.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert fake.stored_paths() == {"/a.bin"}


def test_a_refused_connection_is_clear(tmp_path: Path) -> None:
    path = make_file(tmp_path / "a.bin", 10)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        with pytest.raises(TransportError) as caught:
            _send_one(f"http://127.0.0.1:{port}", path)
    assert not isinstance(caught.value, AnswerLostError)


# --- what counts as the lost attempt's file ----------------------------------------------


def test_a_candidate_needs_name_size_and_time() -> None:
    since = 1_900_000_000.0
    unique = Target("/f/", "a.txt", 5, unique=True)
    exact = Target("/f/", "a.txt", 5, unique=False)

    def item(name: str, size: int = 5, age_s: float = -1.0) -> dict[str, object]:
        when = iso_utc(since - age_s)
        return {"name": name, "size": size, "type": "file", "createdAt": when, "updatedAt": when}

    assert unique.matches(item("a_Bt60ob2rH.txt"), since)
    assert not unique.matches(item("a_Bt60ob2rH.txt", age_s=1.0), since)  # stored before it began
    for other in ("a.txt", "a_b_Bt60ob2rH.txt", "ab_Bt60ob2rH.txt", "a_Bt60ob2rH.jpg"):
        assert not unique.matches(item(other), since), other
    assert not unique.matches(item("a_Bt60ob2rH.txt", size=6), since)
    assert not unique.matches(item("a_Bt60ob2rH.txt", age_s=5.0), since)
    assert exact.matches(item("a.txt"), since)
    assert not exact.matches(item("a_Bt60ob2rH.txt"), since)
    assert not exact.matches({**item("a.txt"), "updatedAt": "yesterday"}, since)
    assert 'name : "a_" AND size = 5 AND createdAt >= ' in unique.search_query(since)
    assert 'name = "a.txt" AND size = 5 AND updatedAt >= ' in exact.search_query(since)


def test_an_answer_lost_on_the_last_attempt_is_looked_up_before_failing(
    fake: FakeState, env: dict[str, str], cli: CliRecorder, tmp_path: Path
) -> None:
    root = _tree(tmp_path / "t")
    fake.faults.drop_after_store_rate = 1.0  # stored, answer lost, and no attempt is left
    result, report = _upload(cli, env, root, "--retries", "1")
    assert result.exit_code == 0, result.stderr
    _assert_one_file_one_version_each(fake, report, unique=False)
    assert len(fake.requests_of("upload")) == COUNT
    assert {r["reason"] for r in report["files"]} == {CONFIRMED}


def test_an_earlier_upload_never_confirms_new_content(
    fake: FakeState, env: dict[str, str], cli: CliRecorder, tmp_path: Path
) -> None:
    make_file(tmp_path / "ex" / "a.png", 40, 1)
    first, _ = _upload(cli, env, tmp_path / "ex")
    assert first.exit_code == 0, first.stderr
    make_file(tmp_path / "ex" / "a.png", 40, 2)  # same size, new content, a moment later
    fake.faults.stall_rate, fake.faults.stall_seconds = 1.0, 4.0  # no answer in time
    result, report = _upload(cli, env, tmp_path / "ex", "--timeout", "1", "--retries", "1")
    assert result.exit_code == 1, result.stderr
    assert [r["status"] for r in report["files"]] == ["failed"]
    assert CONFIRMED not in result.stdout + result.stderr
