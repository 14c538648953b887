"""A run always ends, and its report always lists every planned file.

Signals, a dead server, a closed stdout and unexpected errors each stop a run in a bounded
time with the report written and complete. The real CLI runs in a subprocess against the
fake server; the time bounds are behaviour bounds ("ends within N s"), kept generous.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from imagekit_cli.auth import BasicAuthSigner, Credentials
from imagekit_cli.breaker import CircuitBreaker
from imagekit_cli.config import Secret, Settings
from imagekit_cli.events import NullReporter
from imagekit_cli.interrupts import Interrupts, Listener
from imagekit_cli.planning import Planner, PlanOptions
from imagekit_cli.runner import EngineSettings
from imagekit_cli.uploading import UploadConfig, run_upload
from tests.conftest import PRIVATE_KEY, CliRecorder, make_file
from tests.fake_imagekit import FakeState


def tree(root: Path, count: int) -> Path:
    for i in range(count):
        make_file(root / f"{i:03}.jpg", 50 + i, i)
    return root


def imagekit(*args: str, env: Mapping[str, str], **popen: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "imagekit_cli", *args],
                            env={**os.environ, **env}, text=True, **popen)  # fmt: skip


def read_report(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    assert data["summary"]["total"] == len(data["files"])
    return data


def wait_until(check: Any, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.02)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# Slow: the breaker trips only after a 10 s streak of failures (its window); the trip rule
# itself runs in the default suite, test_breaker_rides_out_a_blip_but_trips_on_a_dead_server.
@pytest.mark.slow
def test_dead_server_stops_the_run_and_reports_every_file(env, tmp_path: Path) -> None:
    root = tree(tmp_path / "d", 100)
    report_path = tmp_path / "r.json"
    env = {**env, "IMAGEKIT_BASE_URL": f"http://127.0.0.1:{closed_port()}"}
    started = time.monotonic()
    proc = imagekit("upload", str(root), "--report", str(report_path), "--progress", "none",
                    env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    _, err = proc.communicate(timeout=120)
    assert time.monotonic() - started < 30, "a dead server kept the run going"
    assert proc.returncode == 1, err
    assert "Stopped starting uploads: the server could not be reached" in err
    assert "Traceback" not in err
    report = read_report(report_path)
    assert report["summary"]["total"] == 100
    statuses = {f["status"] for f in report["files"]}
    assert statuses == {"failed", "skipped"}
    skipped = [f for f in report["files"] if f["status"] == "skipped"]
    assert len(skipped) >= 50
    unreachable = "not started: the server could not be reached"
    assert all(f["reason"].startswith(unreachable) for f in skipped)


def test_breaker_rides_out_a_blip_but_trips_on_a_dead_server() -> None:
    now = [0.0]
    breaker = CircuitBreaker(threshold=10, window_s=10.0, clock=lambda: now[0])
    assert not any(breaker.failure() for _ in range(128))  # every worker fails at once
    now[0] = 9.0
    breaker.success()  # the server answered: the streak is over
    now[0] = 12.0
    assert not any(breaker.failure() for _ in range(9))
    now[0] = 22.5
    assert breaker.failure() is True
    assert breaker.tripped
    assert breaker.failure() is False  # trips once


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_second_signal_ends_the_run_with_the_report(
    fake: FakeState, env, tmp_path: Path, sig: signal.Signals
) -> None:
    root = tree(tmp_path / "d", 40)
    report_path = tmp_path / "r.json"
    fake.faults.stall_rate, fake.faults.stall_seconds = 1.0, 60.0  # uploads never finish
    proc = imagekit("upload", str(root), "-j", "4", "--timeout", "120", "--report",
                    str(report_path), "--progress", "plain", env=env,
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    wait_until(lambda: fake.in_flight >= 4)
    os.kill(proc.pid, sig)
    time.sleep(0.5)
    assert proc.poll() is None, "the first signal must let uploads in flight finish"
    os.kill(proc.pid, sig)
    second = time.monotonic()
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - second < 8, "the second signal did not end the run"
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    report = read_report(report_path)
    assert report["interrupted"] is True
    assert report["summary"]["total"] == 40
    reasons = {f["reason"] for f in report["files"]}
    assert reasons == {"interrupted", "not started: interrupted"}
    assert fake.stored_paths() == set()


def test_first_sigterm_finishes_uploads_in_flight(fake: FakeState, env, tmp_path: Path) -> None:
    root = tree(tmp_path / "d", 12)
    report_path = tmp_path / "r.json"
    fake.faults.latency = 0.4
    proc = imagekit("upload", str(root), "-j", "2", "--report", str(report_path),
                    "--progress", "plain", env=env, stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE)  # fmt: skip
    wait_until(lambda: len(fake.uploads_ok()) >= 2)
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    report = read_report(report_path)
    assert report["summary"]["total"] == 12
    uploaded = {f["remote_path"] for f in report["files"] if f["status"] == "uploaded"}
    assert uploaded == fake.stored_paths()
    assert 2 <= len(uploaded) < 12
    skipped = [f for f in report["files"] if f["status"] == "skipped"]
    assert skipped
    assert {f["reason"] for f in skipped} == {"not started: interrupted"}
    assert report["summary"]["failed"] == 0  # nothing in flight was cut off


def test_third_signal_exits_at_once(fake: FakeState, env, tmp_path: Path) -> None:
    root = tree(tmp_path / "d", 20)
    fake.faults.stall_rate, fake.faults.stall_seconds = 1.0, 60.0
    proc = imagekit("upload", str(root), "-j", "2", "--timeout", "120", "--progress", "none",
                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    wait_until(lambda: fake.in_flight >= 2)
    os.kill(proc.pid, signal.SIGINT)
    time.sleep(0.3)
    # Two of one signal sent back to back may merge into one; two different ones do not, so
    # the third arrives before the second has had any effect.
    os.kill(proc.pid, signal.SIGTERM)
    os.kill(proc.pid, signal.SIGINT)
    sent = time.monotonic()
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 3
    assert "interrupted three times; exiting now" in err
    assert proc.returncode == 130, err


def test_watchdog_exits_if_the_run_hangs_after_the_second_signal() -> None:
    exits: list[str] = []
    heard: list[int] = []
    interrupts = Interrupts(grace_s=0.2, exit_now=exits.append)
    loop = asyncio.new_event_loop()
    try:
        with interrupts.installed(), interrupts.listening(Listener(loop, heard.append, print)):
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGINT)
            wait_until(lambda: bool(exits), 10)
        loop.run_until_complete(asyncio.sleep(0))
    finally:
        loop.close()
    assert heard == [1, 2]
    assert exits == ["still running 0.2 s after the second interrupt; exiting now."]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_signals_outside_an_upload_phase_let_the_report_be_written() -> None:
    exits: list[str] = []
    interrupts = Interrupts(grace_s=60, exit_now=exits.append)
    with interrupts.installed():
        # the first ends what is running (a listing); the handler raises inside os.kill
        with pytest.raises(KeyboardInterrupt):  # noqa: PT012
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        os.kill(os.getpid(), signal.SIGTERM)  # the second may come while the report is written
        time.sleep(0.05)
        assert exits == []
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
    assert exits == ["interrupted three times; exiting now."]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_closed_stdout_ends_the_run_cleanly(fake: FakeState, env, tmp_path: Path) -> None:
    root = tree(tmp_path / "d", 200)
    report_path = tmp_path / "r.json"
    fake.faults.upload_latency = 0.05
    proc = imagekit("upload", str(root), "-o", "jsonl", "-q", "-j", "2", "--report",
                    str(report_path), env=env, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE)  # fmt: skip
    head = subprocess.Popen(["head", "-1"], stdin=proc.stdout, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    proc.stdout.close()  # only head reads the pipe now, as in `imagekit ... | head -1`
    first, _ = head.communicate(timeout=30)
    err = proc.communicate(timeout=30)[1]
    assert json.loads(first)["status"] == "uploaded"
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    assert "Exception ignored" not in err
    report = read_report(report_path)
    assert report["summary"]["total"] == 200
    skipped = [f for f in report["files"] if f["status"] == "skipped"]
    assert len(skipped) > 100
    assert {f["reason"] for f in skipped} == {"not started: stdout was closed"}
    assert f"stdout was closed: {len(skipped)} file(s) not started" in err  # says why it is 1


@pytest.mark.usefixtures("quick_backoff")
def test_garbage_retry_after_is_ignored(
    fake: FakeState, env, cli: CliRecorder, tmp_path: Path
) -> None:
    root = tree(tmp_path / "d", 5)
    fake.faults.scripted["upload"] = [(429, {"Retry-After": "soon"})] * 3
    result = cli("upload", str(root), "-j", "1", "-o", "json", "--progress", "none", env=env)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["summary"]["total"] == 5
    assert report["summary"]["uploaded"] == 5
    assert max(f["attempts"] for f in report["files"]) > 1


class FlakySigner(BasicAuthSigner):
    """Signs like the private-key signer but raises an unexpected error for some files."""

    def __init__(self, broken: set[str]) -> None:
        super().__init__(Secret(PRIVATE_KEY))
        self.broken = broken

    async def sign(self, fields: Mapping[str, str]) -> Credentials:
        if fields["fileName"] in self.broken:
            raise RuntimeError("signer exploded")
        return await super().sign(fields)


@pytest.mark.parametrize("concurrency", [1, 4])
def test_unexpected_error_fails_only_that_file(
    fake: FakeState, tmp_path: Path, concurrency: int
) -> None:
    tree(tmp_path / "d", 30)
    broken = {f"{i:03}.jpg" for i in range(0, 30, 3)}
    engine_settings = EngineSettings(concurrency=concurrency, handle_signals=False)
    config = UploadConfig(Planner(PlanOptions()), engine_settings=engine_settings)
    settings = Settings(private_key=Secret(PRIVATE_KEY), base_url=fake.base_url)
    run = run_upload([str(tmp_path / "d")], config, settings, NullReporter(),
                     signer=FlakySigner(broken))  # fmt: skip
    report = asyncio.run(asyncio.wait_for(run, 60))
    assert report.summary()["total"] == 30
    failed = {Path(f.path).name: f for f in report.files if f.status == "failed"}
    assert set(failed) == broken
    assert {f.reason for f in failed.values()} == {"unexpected RuntimeError: signer exploded"}
    assert len(fake.stored_paths()) == 20


def test_refused_key_reports_every_file(
    fake: FakeState, env, cli: CliRecorder, tmp_path: Path
) -> None:
    root = tree(tmp_path / "d", 200)
    env = {**env, "IMAGEKIT_PRIVATE_KEY": "private_wrong_key_0123456789"}
    result = cli("upload", str(root), "-o", "json", "--progress", "none", env=env)
    assert result.exit_code == 3, result.stderr
    report = json.loads(result.stdout)
    assert report["summary"]["total"] == 200
    skipped = [f for f in report["files"] if f["status"] == "skipped"]
    assert {f["reason"] for f in skipped} == {"not started: credentials were rejected"}
    assert report["summary"]["failed"] + len(skipped) == 200


def test_fail_fast_reports_every_file(fake: FakeState, env, cli: CliRecorder, tmp_path) -> None:
    root = tree(tmp_path / "d", 60)
    fake.faults.fail_names["000.jpg"] = (400, "nope")
    result = cli("upload", str(root), "-j", "1", "--fail-fast", "-o", "json", env=env)
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["summary"]["total"] == 60
    skipped = [f for f in report["files"] if f["status"] == "skipped"]
    assert len(skipped) >= 50
    assert {f["reason"] for f in skipped} == {"not started: stopped after a failure (--fail-fast)"}
