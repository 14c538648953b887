"""CI pipeline features: keyless signing, JUnit, GitHub Actions, sharding, report merge."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import pytest
from aiohttp import web

from tests.conftest import PRIVATE_KEY, PUBLIC_KEY, CliRecorder, make_file
from tests.fake_imagekit import AppThread, FakeState

SIGNER_TOKEN = "let-me-sign"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signing_app(calls: list[str]) -> web.Application:
    """A user's signing backend: holds the private key so the CI runner does not."""

    def authorised(request: web.Request) -> None:
        if request.headers.get("X-Signer-Token") != SIGNER_TOKEN:
            raise web.HTTPUnauthorized(text="who are you?")

    async def v1(request: web.Request) -> web.Response:
        authorised(request)
        calls.append("v1")
        token, expire = str(uuid.uuid4()), int(time.time()) + 600
        signature = hmac.new(PRIVATE_KEY.encode(), f"{token}{expire}".encode(),
                             hashlib.sha1).hexdigest()  # fmt: skip
        return web.json_response({"token": token, "expire": expire, "signature": signature})

    async def v2(request: web.Request) -> web.Response:
        authorised(request)
        calls.append("v2")
        body = await request.json()  # ImageKit's documented {uploadPayload, expire, publicKey}
        header = {"alg": "HS256", "typ": "JWT", "kid": body["publicKey"]}
        now = int(time.time())
        payload = {**body["uploadPayload"], "iat": now, "exp": now + int(body["expire"])}
        signing_input = (_b64url(json.dumps(header).encode()) + "."
                         + _b64url(json.dumps(payload).encode()))  # fmt: skip
        sig = hmac.new(PRIVATE_KEY.encode(), signing_input.encode(), hashlib.sha256).digest()
        return web.json_response({"token": f"{signing_input}.{_b64url(sig)}"})

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=500, text="boom")

    async def garbage(request: web.Request) -> web.Response:
        return web.Response(text="<html>not json</html>")

    app = web.Application()
    app.router.add_get("/sign", v1)
    app.router.add_post("/sign", v2)
    app.router.add_route("*", "/broken", broken)
    app.router.add_route("*", "/garbage", garbage)
    return app


@pytest.fixture
def signer() -> Iterator[tuple[str, list[str]]]:
    calls: list[str] = []
    server = AppThread(signing_app(calls)).start()
    try:
        yield server.base_url, calls
    finally:
        server.stop()


@pytest.mark.parametrize(("mode", "kind"), [("signature", "v1"), ("jwt", "v2")])
def test_keyless_upload_with_signing_endpoint(
    fake: FakeState, cli: CliRecorder, tmp_path: Path, signer, mode: str, kind: str
) -> None:
    base, calls = signer
    for i in range(6):
        make_file(tmp_path / "d" / f"sub{i % 2}" / f"{i}.jpg", 100, i)
    env = {  # no IMAGEKIT_PRIVATE_KEY at all
        "IMAGEKIT_PUBLIC_KEY": PUBLIC_KEY,
        "IMAGEKIT_BASE_URL": fake.base_url,
        "IMAGEKIT_AUTH_ENDPOINT": f"{base}/sign",
    }
    result = cli("upload", str(tmp_path / "d"), "--folder", "/ci", "--auth", mode,
                 "--auth-header", f"X-Signer-Token: {SIGNER_TOKEN}", env=env)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert len(fake.stored_paths()) == 6
    assert calls == [kind] * 6
    assert len(fake.used_tokens) == 6


@pytest.mark.parametrize(
    ("path", "header", "expected"),
    [
        ("/broken", SIGNER_TOKEN, "answered 500"),
        ("/garbage", SIGNER_TOKEN, "did not answer with JSON"),
        ("/sign", "wrong", "answered 401"),
    ],
)
def test_signing_endpoint_failures_exit_3(
    fake: FakeState, cli: CliRecorder, tmp_path: Path, signer, path, header, expected
) -> None:
    base, _ = signer
    make_file(tmp_path / "d" / "a.jpg", 10)
    make_file(tmp_path / "d" / "b.jpg", 10, 1)
    env = {"IMAGEKIT_PUBLIC_KEY": PUBLIC_KEY, "IMAGEKIT_BASE_URL": fake.base_url}
    result = cli("upload", str(tmp_path / "d"), "--auth", "signature", "--auth-endpoint",
                 base + path, "--auth-header", f"X-Signer-Token: {header}", "-j", "1",
                 env=env)  # fmt: skip
    assert result.exit_code == 3
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1
    assert expected in errors[0]
    assert fake.requests_of("upload") == []


def test_public_key_only_without_endpoint_is_exit_3(fake, cli, tmp_path) -> None:
    make_file(tmp_path / "a.jpg", 10)
    env = {"IMAGEKIT_PUBLIC_KEY": PUBLIC_KEY, "IMAGEKIT_BASE_URL": fake.base_url}
    result = cli("upload", str(tmp_path / "a.jpg"), "--auth", "jwt", env=env)
    assert result.exit_code == 3
    assert "neither is set. Export IMAGEKIT_PRIVATE_KEY, or give --auth-endpoint" in result.stderr


def _failing_tree(root: Path, fake: FakeState) -> None:
    make_file(root / "ok.jpg", 100)
    make_file(root / "bad, one.jpg", 100, 1)
    make_file(root / "skip.exe", 100, 2)
    fake.faults.fail_names["bad, one.jpg"] = (400, "Your request failed 'checks' validation.")


def test_junit_report(fake: FakeState, env, cli: CliRecorder, tmp_path: Path) -> None:
    _failing_tree(tmp_path / "d", fake)
    result = cli("upload", str(tmp_path / "d"), "--report", str(tmp_path / "run.xml"), env=env)
    assert result.exit_code == 1
    root = ElementTree.parse(tmp_path / "run.xml").getroot()
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    cases = {Path(c.get("name", "")).name: c for c in suite.iter("testcase")}
    failure = cases["bad, one.jpg"].find("failure")
    assert failure is not None
    assert failure.get("message") == "Your request failed 'checks' validation."
    skipped = cases["skip.exe"].find("skipped")
    assert skipped is not None
    assert skipped.get("message") == "type not allowed"
    assert [child.tag for child in cases["ok.jpg"]] == ["properties"]


def test_github_actions_annotations_and_summary(fake, env, cli, tmp_path: Path) -> None:
    _failing_tree(tmp_path / "d", fake)
    summary = tmp_path / "summary.md"
    env = {**env, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "CI": "true"}
    result = cli("upload", str(tmp_path / "d"), "--folder", "/gh", env=env)
    assert result.exit_code == 1
    annotations = [line for line in result.stderr.splitlines() if line.startswith("::")]
    bad = tmp_path / "d" / "bad, one.jpg"
    escaped = str(bad).replace(":", "%3A").replace(",", "%2C")
    assert annotations == [
        f"::error file={escaped},title=imagekit upload::Your request failed 'checks' validation."
    ]
    text = summary.read_text()
    lines = text.splitlines()
    assert lines[0] == "### imagekit upload"
    assert lines[2:4] == ["| uploaded | skipped | failed | deleted | bytes | duration |",
                          "|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    assert lines[4].startswith("| 1 | 1 | 1 | 0 | 100 B | ")
    (refused,) = [r for r in fake.requests_of("upload") if r.status == 400]
    assert lines[-1] == (f"| {bad} | /gh/bad__one.jpg | Your request failed 'checks' "
                         f"validation. (ImageKit request id {refused.request_id}) |")  # fmt: skip


def test_ci_env_forces_plain_progress(fake, env, cli, tmp_path: Path) -> None:
    make_file(tmp_path / "a.jpg", 100)
    result = cli("upload", str(tmp_path / "a.jpg"), env={**env, "CI": "true"})
    assert result.stderr.startswith("uploaded  ")
    assert "\x1b[" not in result.stderr


def test_shards_partition_the_tree_and_merge(fake: FakeState, env, cli, tmp_path: Path) -> None:
    for i in range(300):
        make_file(tmp_path / "d" / f"s{i % 4}" / f"{i}.txt", 10 + i % 5, i)
    shard_sets = []
    reports = []
    for k in (1, 2, 3):
        report = tmp_path / f"shard-{k}.json"
        result = cli("upload", str(tmp_path / "d"), "--folder", "/sh", "--shard", f"{k}/3",
                     "--report", str(report), "-o", "json", env=env)  # fmt: skip
        assert result.exit_code == 0, result.stderr
        shard_sets.append({f["remote_path"] for f in json.loads(result.stdout)["files"]})
        reports.append(report)
    union = set().union(*shard_sets)
    assert sum(len(s) for s in shard_sets) == len(union) == 300
    assert all(len(s) > 50 for s in shard_sets)
    assert union == fake.stored_paths()
    assert len(fake.requests_of("upload")) == 300

    merged = cli("report", "merge", *map(str, reports), "-o", "json",
                 "--report", str(tmp_path / "all.xml"), env=env)  # fmt: skip
    assert merged.exit_code == 0, merged.stderr
    body = json.loads(merged.stdout)
    sums = [json.loads(r.read_text())["summary"] for r in reports]
    for key in ("total", "uploaded", "skipped", "failed", "bytes_uploaded"):
        assert body["summary"][key] == sum(s[key] for s in sums)
    assert body["summary"]["uploaded"] == 300
    suite = ElementTree.parse(tmp_path / "all.xml").getroot().find("testsuite")
    assert suite is not None
    assert suite.get("tests") == "300"


def test_report_merge_exit_code_and_bad_input(fake, env, cli, tmp_path: Path) -> None:
    _failing_tree(tmp_path / "d", fake)
    cli("upload", str(tmp_path / "d"), "--report", str(tmp_path / "a.jsonl"), env=env)
    result = cli("report", "merge", str(tmp_path / "a.jsonl"), "-o", "csv")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0].startswith("path,remote_path,status,reason")
    (tmp_path / "bad.json").write_text("{nope")
    result = cli("report", "merge", str(tmp_path / "bad.json"))
    assert result.exit_code == 2
    assert f"Error: Report {tmp_path / 'bad.json'} is not a readable JSON report." in result.stderr
