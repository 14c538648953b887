"""Large uploads stream from disk: the bytes that arrive are the file's, memory stays bounded,
and reading + hashing run in a worker thread so the event loop only sends."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import tracemalloc
from pathlib import Path

import pytest

from imagekit_cli import multipart
from tests.conftest import CliRecorder, make_file
from tests.fake_imagekit import FakeState

SIZE = 48 * 1024 * 1024


def _open_fds_to(path: Path) -> list[str]:
    fds = Path("/proc/self/fd")
    found = []
    for fd in fds.iterdir():
        try:
            if os.readlink(fd) == str(path):
                found.append(fd.name)
        except OSError:
            continue
    return found


def test_large_upload_sha256_matches_and_memory_is_bounded(
    fake: FakeState, env, cli: CliRecorder, tmp_path: Path
) -> None:
    path = make_file(tmp_path / "big.mp4", SIZE, seed=7)
    local = hashlib.sha256(path.read_bytes()).hexdigest()
    tracemalloc.start()
    try:
        result = cli("upload", str(path), "--folder", "/big", "-o", "json", env=env)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.exit_code == 0, result.stderr
    assert fake.file_at("/big/big.mp4").current.sha256 == local
    assert fake.file_at("/big/big.mp4").current.size == SIZE
    [row] = json.loads(result.stdout)["files"]
    assert row["sha256"] == local
    assert peak < 12 * 1024 * 1024, f"peak traced memory {peak / 1e6:.1f} MB for a 48 MiB file"
    assert not _open_fds_to(path)


def test_file_is_read_and_hashed_off_the_event_loop(
    fake: FakeState, env, cli: CliRecorder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = make_file(tmp_path / "t" / "big.mp4", 3 * multipart.CHUNK_SIZE + 5, seed=1)
    small = make_file(tmp_path / "t" / "small.jpg", 1000, seed=2)
    readers: dict[int, set[bool]] = {}
    real_read = multipart._FileChunks.read

    def spy(self: multipart._FileChunks) -> bytes:
        chunk = real_read(self)
        on_main = threading.current_thread() is threading.main_thread()
        readers.setdefault(len(chunk), set()).add(on_main)
        return chunk

    monkeypatch.setattr(multipart._FileChunks, "read", spy)
    result = cli("upload", str(tmp_path / "t"), "--folder", "/t", env=env)
    assert result.exit_code == 0, result.stderr
    assert readers[multipart.CHUNK_SIZE] == {False}, "large-file chunks were read on the loop"
    assert readers[5] == {False}
    assert readers[1000] == {True}, "a one-chunk file needs no thread hop"
    for local, remote in ((big, "/t/big.mp4"), (small, "/t/small.jpg")):
        want = hashlib.sha256(local.read_bytes()).hexdigest()
        assert fake.file_at(remote).current.sha256 == want


def test_body_abandoned_mid_stream_closes_the_file(
    fake: FakeState, env, cli: CliRecorder, tmp_path: Path
) -> None:
    # A redirect is answered before the body is read, so the client stops sending mid-file
    # while a read-ahead may still be running in a worker.
    fake.faults.redirect_uploads_to = "http://127.0.0.1:9/elsewhere"
    path = make_file(tmp_path / "big.mp4", 8 * 1024 * 1024, seed=3)
    result = cli("upload", str(path), "--folder", "/r", env=env)
    assert result.exit_code == 1
    assert "redirected" in result.stderr + result.stdout
    assert not _open_fds_to(path)
    assert fake.stored_paths() == set()
