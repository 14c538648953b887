"""Bounded answers and clean keys (issue #11, item 5)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.conftest import PRIVATE_KEY, PUBLIC_KEY, CliRecorder, make_file
from tests.fake_imagekit import AppThread, FakeState
from tests.signing_backend import Backend, running


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error:")]


def test_a_huge_auth_endpoint_answer_is_not_read_past_64_kib(
    fake: FakeState, cli: CliRecorder, tmp_path: Path
) -> None:
    make_file(tmp_path / "a.jpg", 10)
    with running(Backend(huge=5_000_000)) as backend:
        env = {"IMAGEKIT_PUBLIC_KEY": PUBLIC_KEY, "IMAGEKIT_BASE_URL": fake.base_url,
               "IMAGEKIT_AUTH_ENDPOINT": backend.url}  # fmt: skip
        result = cli("upload", str(tmp_path / "a.jpg"), "--auth", "signature", env=env)
    assert result.exit_code == 3
    [error] = _errors(result.stderr)
    assert "larger than 64 KiB" in error
    assert fake.requests_of("upload") == []


ITEM = {"type": "file", "fileId": "f{}", "name": "n{}.jpg", "filePath": "/n{}.jpg", "size": 1}


def _items(start: int, count: int) -> list[dict[str, object]]:
    return [{k: v.format(i) if isinstance(v, str) else v for k, v in ITEM.items()}
            for i in range(start, start + count)]  # fmt: skip


@pytest.fixture
def odd_api() -> Iterator[str]:
    """A media API whose list endpoint ignores skip (/same) or answers 40 MB (/huge)."""

    async def same(request: web.Request) -> web.Response:
        return web.json_response(_items(0, 1000))

    async def huge(request: web.Request) -> web.Response:
        return web.Response(body=b"[" + b" " * 40_000_000 + b"]", content_type="application/json")

    app = web.Application()
    app.router.add_get("/same/v1/files", same)
    app.router.add_get("/huge/v1/files", huge)
    server = AppThread(app).start()
    try:
        yield server.base_url
    finally:
        server.stop()


def test_a_list_endpoint_that_ignores_skip_is_reported_not_paged_forever(
    cli: CliRecorder, odd_api: str
) -> None:
    env = {"IMAGEKIT_PRIVATE_KEY": PRIVATE_KEY, "IMAGEKIT_BASE_URL": odd_api + "/same"}
    result = cli("ls", "/", env=env)
    assert result.exit_code == 1
    [error] = _errors(result.stderr)
    assert "returned the same page for / at skip=0 and skip=1000" in error
    assert "ignores 'skip'" in error


def test_api_answers_have_a_cap(cli: CliRecorder, odd_api: str) -> None:
    env = {"IMAGEKIT_PRIVATE_KEY": PRIVATE_KEY, "IMAGEKIT_BASE_URL": odd_api + "/huge"}
    result = cli("ls", "/", env=env)
    assert result.exit_code == 1
    [error] = _errors(result.stderr)
    assert "larger than 32 MiB" in error


def test_keys_from_env_and_config_are_stripped(
    fake: FakeState, cli: CliRecorder, tmp_path: Path, isolated_env: Path
) -> None:
    make_file(tmp_path / "a.jpg", 10)
    env = {"IMAGEKIT_PRIVATE_KEY": f" {PRIVATE_KEY}\n", "IMAGEKIT_BASE_URL": f"{fake.base_url}\n"}
    result = cli("upload", str(tmp_path / "a.jpg"), "--folder", "/env", env=env)
    assert result.exit_code == 0, result.stderr
    config = isolated_env / "config.toml"
    config.write_text(
        f'[profiles.default]\nprivate_key = "{PRIVATE_KEY}\\n"\npublic_key = " {PUBLIC_KEY} "\n'
    )
    config.chmod(0o600)
    result = cli("upload", str(tmp_path / "a.jpg"), "--folder", "/cfg", "--auth", "jwt",
                 env={"IMAGEKIT_BASE_URL": fake.base_url})  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert fake.stored_paths() == {"/env/a.jpg", "/cfg/a.jpg"}
