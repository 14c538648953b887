"""Uploads over HTTPS to the fake, whose certificate comes from a throwaway CA (trustme):
trusted through SSL_CERT_FILE, refused without it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PRIVATE_KEY, PUBLIC_KEY, CliRecorder, make_file
from tests.fake_imagekit import FakeServer, FakeState
from tests.fake_imagekit.tls import server_context


@pytest.fixture
def https_fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeState, Path]]:
    """A fake served over https; yields it and the PEM file of the CA that signed it."""
    where = tmp_path_factory.mktemp("tls")
    ca = where / "ca.pem"
    state = FakeState(where, private_key=PRIVATE_KEY, public_key=PUBLIC_KEY, plan="enterprise")
    server = FakeServer(state, ssl_context=server_context(ca)).start()
    try:
        yield state, ca
    finally:
        server.stop()


def _env(state: FakeState, ca: Path | None) -> dict[str, str]:
    env = {"IMAGEKIT_PRIVATE_KEY": PRIVATE_KEY, "IMAGEKIT_BASE_URL": state.base_url}
    if ca is not None:
        env["SSL_CERT_FILE"] = str(ca)
    return env


def test_upload_over_https_with_a_trusted_ca(
    https_fake: tuple[FakeState, Path], cli: CliRecorder, tmp_path: Path
) -> None:
    state, ca = https_fake
    assert state.base_url.startswith("https://127.0.0.1:")
    small = make_file(tmp_path / "t" / "a.jpg", 2000, seed=1)
    big = make_file(tmp_path / "t" / "big.mp4", 5 * 1024 * 1024 + 3, seed=2)
    result = cli("upload", str(tmp_path / "t"), "--folder", "/tls", env=_env(state, ca))
    assert result.exit_code == 0, result.stderr
    for local, remote in ((small, "/tls/a.jpg"), (big, "/tls/big.mp4")):
        want = hashlib.sha256(local.read_bytes()).hexdigest()
        assert state.file_at(remote).current.sha256 == want


def test_https_without_the_ca_is_refused(
    https_fake: tuple[FakeState, Path], cli: CliRecorder, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    state, _ = https_fake
    make_file(tmp_path / "t" / "a.jpg", 2000)
    result = cli("upload", str(tmp_path / "t"), "--folder", "/tls", env=_env(state, None))
    assert result.exit_code == 3
    assert "TLS certificate of 127.0.0.1 could not be verified" in result.stderr
    assert state.stored_paths() == set()
