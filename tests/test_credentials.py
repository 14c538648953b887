"""Credentials travel safely: https only, ImageKit's own signing backends, TLS failures
are final, and every attempt carries credentials never used before (issue #11, #10)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagekit_cli.auth import AuthEndpoint, JwtSigner, SignatureSigner
from imagekit_cli.client import ImageKitClient
from imagekit_cli.config import Secret, check_url
from imagekit_cli.errors import UsageError
from tests.conftest import PRIVATE_KEY, PUBLIC_KEY, CliRecorder, make_file
from tests.fake_imagekit import FakeState
from tests.signing_backend import Backend, running


def _payload(jwt: str) -> dict[str, object]:
    part = jwt.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error:")]


# --- 1. https only ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env_extra", "args", "expected"),
    [
        ({"IMAGEKIT_BASE_URL": "http://upload.example.invalid"}, (),
         "IMAGEKIT_BASE_URL) uses http://, which would send credentials in clear"),
        ({}, ("--auth", "jwt", "--auth-endpoint", "http://signer.example.invalid/auth"),
         "--auth-endpoint uses http://"),
        ({"IMAGEKIT_BASE_URL": "notaurl"}, (), "is not a valid https:// URL"),
        ({"IMAGEKIT_BASE_URL": "ftp://files.example.invalid"}, (), "is not a valid https:// URL"),
        ({"IMAGEKIT_BASE_URL": "https://host.invalid:99999"}, (), "is not a valid https:// URL"),
    ],
)  # fmt: skip
def test_plain_http_and_malformed_urls_are_refused_at_start(
    cli: CliRecorder, tmp_path: Path, env_extra: dict[str, str], args: tuple[str, ...],
    expected: str,
) -> None:  # fmt: skip
    make_file(tmp_path / "a.jpg", 10)
    env = {"IMAGEKIT_PUBLIC_KEY": PUBLIC_KEY, "IMAGEKIT_PRIVATE_KEY": PRIVATE_KEY, **env_extra}
    if args:
        env.pop("IMAGEKIT_PRIVATE_KEY")
    result = cli("upload", str(tmp_path / "a.jpg"), *args, env=env)
    assert result.exit_code == 2
    [error] = _errors(result.stderr)
    assert expected in error
    assert "uploaded" not in result.stderr


def test_loopback_hosts_may_use_http() -> None:
    for url in ("http://127.0.0.1:8080", "http://localhost/x", "http://[::1]:9"):
        assert check_url(url, "--base-url") == url
    with pytest.raises(UsageError, match="https is required"):
        check_url("http://127.0.0.2", "--base-url")
    with pytest.raises(UsageError, match="https is required"):
        check_url("http://localhost.example.invalid", "--base-url")


# --- 2. ImageKit's documented signing backends --------------------------------------------


def _keyless_env(fake: FakeState, endpoint: str) -> dict[str, str]:
    return {"IMAGEKIT_PUBLIC_KEY": PUBLIC_KEY, "IMAGEKIT_BASE_URL": fake.base_url,
            "IMAGEKIT_AUTH_ENDPOINT": endpoint}  # fmt: skip


def test_docs_v2_backend_gets_the_documented_body_and_distinct_expires(
    fake: FakeState, cli: CliRecorder, tmp_path: Path
) -> None:
    for i in range(5):
        make_file(tmp_path / "d" / f"{i}.jpg", 50, i)
    with running(Backend()) as backend:
        result = cli("upload", str(tmp_path / "d"), "--auth", "jwt", "--folder", "/v2",
                     env=_keyless_env(fake, backend.url))  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert len(fake.stored_paths()) == 5
    assert all(set(b) == {"uploadPayload", "expire", "publicKey"} for b in backend.bodies)
    assert {b["publicKey"] for b in backend.bodies} == {PUBLIC_KEY}
    assert {b["uploadPayload"]["fileName"] for b in backend.bodies} == {
        f"{i}.jpg" for i in range(5)
    }
    expires = [b["expire"] for b in backend.bodies]
    assert len(set(expires)) == len(expires)
    assert all(600 < e <= 3600 for e in expires)


def test_v2_jwts_differ_within_one_second_via_the_backend(fake: FakeState) -> None:
    with running(Backend(clock=lambda: 1_900_000_000.0)) as backend:

        async def go() -> list[str]:
            async with ImageKitClient(fake.base_url) as client:
                endpoint = AuthEndpoint(backend.url, client, public_key=PUBLIC_KEY)
                signer = JwtSigner(PUBLIC_KEY, endpoint=endpoint)
                fields = {"fileName": "a.jpg", "useUniqueFileName": "false"}
                return [(await signer.sign(fields)).fields["token"] for _ in range(50)]

        tokens = asyncio.run(go())
    assert len(set(tokens)) == 50
    assert {_payload(t)["iat"] for t in tokens} == {1_900_000_000}


def test_v2_jwts_differ_within_one_second_with_the_private_key() -> None:
    signer = JwtSigner(PUBLIC_KEY, Secret(PRIVATE_KEY), clock=lambda: 1_900_000_000.0)
    fields = {"fileName": "a.jpg"}
    tokens = [asyncio.run(signer.sign(fields)).fields["token"] for _ in range(50)]
    assert len(set(tokens)) == 50
    for token in tokens:
        payload = _payload(token)
        assert 0 < int(str(payload["exp"])) - int(str(payload["iat"])) <= 3600


@pytest.mark.usefixtures("quick_backoff")
@pytest.mark.parametrize("keyless", [True, False])
def test_every_jwt_attempt_is_fresh_when_answers_are_lost(
    fake: FakeState, cli: CliRecorder, tmp_path: Path, keyless: bool
) -> None:
    for i in range(6):
        make_file(tmp_path / "d" / f"{i}.jpg", 50, i)
    fake.faults.drop_after_store_rate = 0.5
    with running(Backend(clock=lambda: 1_900_000_000.0)) as backend:
        env = _keyless_env(fake, backend.url)
        if not keyless:
            env["IMAGEKIT_PRIVATE_KEY"] = PRIVATE_KEY
        result = cli("upload", str(tmp_path / "d"), "--auth", "jwt", "-j", "1", "--retries",
                     "10", env=env)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert len(fake.stored_paths()) == 6
    assert "used before" not in result.stderr
    attempts = fake.requests_of("upload")
    if keyless:  # no private key to look with: lost answers are sent again
        assert len(attempts) > 6
    else:  # looked up and adopted instead (#10)
        assert len(attempts) == 6
        assert fake.requests_of("list")
    assert len(fake.used_tokens) == len(attempts)


def test_v1_backend_behind_a_caching_proxy_gives_fresh_tokens(
    fake: FakeState, cli: CliRecorder, tmp_path: Path
) -> None:
    for i in range(5):
        make_file(tmp_path / "d" / f"{i}.jpg", 50, i)
    with running(Backend(cache=True)) as backend:
        result = cli("upload", str(tmp_path / "d"), "--auth", "signature",
                     env=_keyless_env(fake, backend.url + "?team=web"))  # fmt: skip
        seen = backend.requests
    assert result.exit_code == 0, result.stderr
    assert len(fake.stored_paths()) == 5
    assert len(seen) == 5
    assert all(r.headers.get("Cache-Control") == "no-store" for r in seen)
    assert all(r.query.get("team") == "web" for r in seen)
    assert len({r.query.get("nonce") for r in seen}) == 5


def test_a_backend_that_repeats_a_token_is_refused(fake: FakeState) -> None:
    class Repeating:
        async def get_json(self, url: str, headers: object) -> object:
            return {"token": "same", "expire": 1_900_000_000, "signature": "abc"}

        async def post_json(self, url: str, body: object, headers: object) -> object:
            return {"token": "a.b.c"}

    endpoint = AuthEndpoint("https://signer.invalid/auth", Repeating(), public_key=PUBLIC_KEY)
    signer = SignatureSigner(PUBLIC_KEY, endpoint=endpoint)
    asyncio.run(signer.sign({}))
    with pytest.raises(Exception, match="token it had already given"):
        asyncio.run(signer.sign({}))


# --- TLS certificate failures are final ---------------------------------------------------


@pytest.fixture
def self_signed_server(tmp_path: Path) -> Iterator[tuple[str, list[int]]]:
    """An https server on 127.0.0.1 whose certificate nobody trusts; counts connections."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    connections: list[int] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            connections.append(1)
            try:
                context.wrap_socket(conn, server_side=True).close()
            except (ssl.SSLError, OSError):
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{listener.getsockname()[1]}", connections
    finally:
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() does not
        listener.close()
        thread.join(timeout=5)


def test_untrusted_certificate_is_exit_3_without_retries(
    cli: CliRecorder, tmp_path: Path, self_signed_server: tuple[str, list[int]]
) -> None:
    base, connections = self_signed_server
    for i in range(3):
        make_file(tmp_path / "d" / f"{i}.jpg", 10, i)
    env = {"IMAGEKIT_PRIVATE_KEY": PRIVATE_KEY, "IMAGEKIT_BASE_URL": base}
    result = cli("upload", str(tmp_path / "d"), "-j", "1", "--retries", "5", env=env)
    assert result.exit_code == 3
    [error] = _errors(result.stderr)
    assert "TLS certificate of 127.0.0.1 could not be verified" in error
    assert "SSL_CERT_FILE" in error
    assert len(connections) == 1  # no retry, and no other file tried
    assert "retry" not in result.stderr


def test_untrusted_signing_backend_certificate_is_exit_3(
    fake: FakeState, cli: CliRecorder, tmp_path: Path, self_signed_server: tuple[str, list[int]]
) -> None:
    base, connections = self_signed_server
    make_file(tmp_path / "a.jpg", 10)
    result = cli("upload", str(tmp_path / "a.jpg"), "--auth", "signature",
                 env=_keyless_env(fake, base + "/auth"))  # fmt: skip
    assert result.exit_code == 3
    [error] = _errors(result.stderr)
    assert "TLS certificate of 127.0.0.1 could not be verified" in error
    assert len(connections) == 1
    assert fake.requests_of("upload") == []
