"""Flow control under rate limits (#12): a limit slows a run down instead of failing it.

Against the fake's fixed-window limits (per endpoint group: uploads, media API), with the
server's ``X-RateLimit-*`` headers. Behaviour, not speed: what failed, what was sent, and
that the server's named waits were honoured.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from imagekit_cli.auth import BasicAuthSigner
from imagekit_cli.client import ImageKitClient, UploadRequest
from imagekit_cli.concurrency import AUTO_MAX, AUTO_START, AdaptiveLimit, Controller, cap_note
from imagekit_cli.config import Secret
from imagekit_cli.engine import Engine, UploadJob
from imagekit_cli.events import NullReporter
from imagekit_cli.report import RunReport, Status
from imagekit_cli.retry import PauseGate
from imagekit_cli.ui import PlainReporter
from tests.conftest import PRIVATE_KEY, CliRecorder, make_file
from tests.fake_imagekit import FakeState


def tree(root: Path, count: int, folders: int = 1) -> Path:
    for i in range(count):
        make_file(root / f"d{i % folders:02d}" / f"f{i:04d}.jpg", 200 + i, seed=i)
    return root


def run_json(cli: CliRecorder, env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    result = cli(*args, "-o", "json", "--progress", "none", env=env)
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else {}


def statuses(report: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in report["files"]:
        counts[item["status"]] = counts.get(item["status"], 0) + 1
    return counts


def refused(fake: FakeState, kind: str) -> int:
    return sum(1 for r in fake.requests_of(kind) if r.status == 429)


@pytest.mark.parametrize("extra", [(), ("--retries", "1")], ids=["defaults", "one-attempt"])
def test_sustained_limit_on_every_endpoint_fails_nothing(
    fake: FakeState, env: dict[str, str], cli: CliRecorder, tmp_path: Path, extra: tuple[str, ...]
) -> None:
    root = tree(tmp_path / "photos", 120)
    fake.faults.upload_rate_limit = (5, 100)  # 50 requests/s, in 100 ms windows
    fake.faults.media_rate_limit = (5, 100)
    code, report = run_json(cli, env, "upload", str(root), "--folder", "/lim", *extra)
    assert code == 0
    assert statuses(report) == {"uploaded": 120}
    assert len(fake.stored_paths()) == 120
    # Pausing until the reset, then pacing at the stated rate, keeps refusals rare; ignoring
    # the wait (or the pause for the other workers) hammers the limit thousands of times.
    assert 0 < refused(fake, "upload") < 60  # with one attempt each: no 429 used one up


def one_file_refused(
    fake: FakeState, cli: CliRecorder, env: dict[str, str], tmp_path: Path,
    refusals: list[tuple[int, dict[str, str]]], *args: str,
) -> tuple[int, dict[str, Any]]:  # fmt: skip
    """Upload one file whose first attempts the fake answers with ``refusals``."""
    make_file(tmp_path / "d" / "a.jpg", 500)
    fake.script("upload", *refusals)
    code, report = run_json(cli, env, "upload", str(tmp_path / "d"), *args)
    return code, report["files"][0]


def test_429_with_a_named_wait_uses_no_attempt_and_is_waited_out(
    fake: FakeState, env: dict[str, str], cli: CliRecorder, tmp_path: Path
) -> None:
    refusals = [(429, {"X-RateLimit-Reset": "150"})] * 6
    code, result = one_file_refused(fake, cli, env, tmp_path, refusals, "--retries", "2")
    assert code == 0
    assert result["status"] == "uploaded"
    assert result["attempts"] == 7
    starts = [r.started for r in fake.requests_of("upload")]
    assert len(starts) == 7
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 0.14  # each retry waited the 150 ms the server named


def test_429_without_a_named_wait_still_uses_attempts(
    fake: FakeState, env: dict[str, str], cli: CliRecorder, tmp_path: Path
) -> None:
    code, result = one_file_refused(fake, cli, env, tmp_path, [(429, {})] * 3, "--retries", "2")
    assert code == 1
    assert result["attempts"] == 2


def test_max_wait_fails_the_file_with_a_clear_reason(
    fake: FakeState, env: dict[str, str], cli: CliRecorder, tmp_path: Path
) -> None:
    refusals = [(429, {"Retry-After": "600"})]
    code, failed = one_file_refused(fake, cli, env, tmp_path, refusals, "--max-wait", "1")
    assert code == 1
    assert failed["status"] == "failed"
    assert "429" in failed["reason"]
    assert "--max-wait 1 s" in failed["reason"]
    assert "600.0 s" in failed["reason"]
    assert len(fake.requests_of("upload")) == 1  # failed at once, not after 10 minutes


def test_waits_add_up_against_max_wait(
    fake: FakeState, env: dict[str, str], cli: CliRecorder, tmp_path: Path
) -> None:
    refusals = [(429, {"X-RateLimit-Reset": "400"})] * 5
    code, failed = one_file_refused(fake, cli, env, tmp_path, refusals, "--max-wait", "1")
    assert code == 1
    assert "after waiting 0.8 s" in failed["reason"]
    assert len(fake.requests_of("upload")) == 3  # 0.4 + 0.4 fit in 1 s, a third wait does not


def test_workers_resume_staggered_after_a_pause(
    fake: FakeState, env: dict[str, str], cli: CliRecorder, tmp_path: Path
) -> None:
    root = tree(tmp_path / "photos", 16)
    fake.script("upload", *[(429, {"X-RateLimit-Reset": "300"})] * 8)
    code, _ = run_json(cli, env, "upload", str(root), "-j", "8")
    assert code == 0
    records = fake.requests_of("upload")
    refusals = [r for r in records if r.status == 429]
    resumed = sorted(r.started for r in records if r.started > refusals[-1].finished)[:8]
    # All eight waited for the same reset; they went back one by one, not in one burst.
    assert resumed[-1] - resumed[0] >= 7 * 0.04


def _seed_folders(cli: CliRecorder, env: dict[str, str], root: Path, folders: int) -> None:
    tree(root, folders * 2, folders=folders)
    assert cli("upload", str(root), "--folder", "/site", "-q", env=env).exit_code == 0


def test_media_limit_listing_and_sync_succeed(
    fake: FakeState, env: dict[str, str], cli: CliRecorder, tmp_path: Path
) -> None:
    local = tmp_path / "site"
    _seed_folders(cli, env, local, 30)
    fake.faults.media_rate_limit = (3, 100)
    listed = cli("ls", "/site", "-r", "-o", "json", env=env)
    assert listed.exit_code == 0, listed.stderr
    assert len(json.loads(listed.stdout)["files"]) == 60
    make_file(local / "d00" / "new.jpg", 300)
    code, report = run_json(cli, env, "sync", str(local), "/site")
    assert code == 0
    assert statuses(report) == {"uploaded": 1, "skipped": 60}
    assert refused(fake, "list") > 0  # the limit did bite; the listing waited it out


def test_fd_cap_lowers_j_and_says_so_once(fake: FakeState, env: dict[str, str], tmp_path: Path):
    root = tree(tmp_path / "photos", 150)

    def limit_files() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    cmd = [sys.executable, "-m", "imagekit_cli", "upload", str(root), "--folder", "/fd",
           "-j", "256", "-o", "json", "--progress", "none"]  # fmt: skip
    fake.faults.latency = 0.02
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, preexec_fn=limit_files,
                          timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert statuses(json.loads(proc.stdout)) == {"uploaded": 150}
    assert "Too many open files" not in proc.stderr
    assert proc.stderr.count("-j 256 lowered to") == 1
    assert fake.peak_in_flight <= 32


def test_auto_grows_beyond_its_start(
    fake: FakeState, env: dict[str, str], cli: CliRecorder, tmp_path: Path
) -> None:
    root = tree(tmp_path / "photos", 300)
    fake.faults.latency = 0.03
    code, report = run_json(cli, env, "upload", str(root), "--folder", "/auto")
    assert code == 0
    assert statuses(report) == {"uploaded": 300}
    assert 8 < fake.peak_in_flight <= AUTO_MAX


@pytest.mark.parametrize(("value", "code"), [("auto", 0), ("12", 0), ("0", 2), ("lots", 2)])
def test_concurrency_setting_accepts_auto(cli: CliRecorder, value: str, code: int) -> None:
    result = cli("config", "set", "concurrency", value)
    assert result.exit_code == code
    if code:
        assert "auto, or a whole number from 1 to 256" in result.stderr
    else:
        assert f"concurrency = {value}" in cli("config", "show").stdout.replace('"', "")


def test_j_rejects_a_bad_value(cli: CliRecorder, tmp_path: Path) -> None:
    result = cli("upload", str(tmp_path), "-j", "fast")
    assert result.exit_code == 2
    assert "'-j'" in result.stderr
    assert "auto" in result.stderr


class LimitLog(NullReporter):
    """Keeps every concurrency the engine announces."""

    def __init__(self) -> None:
        self.limits: list[int] = []

    def concurrency(self, limit: int) -> None:
        self.limits.append(limit)


def test_engine_announces_its_concurrency_as_it_changes(fake: FakeState, tmp_path: Path) -> None:
    fake.faults.latency = 0.02
    fake.script("upload", (503, {}))
    paths = [make_file(tmp_path / f"f{i}.jpg", 100 + i) for i in range(120)]
    jobs = [UploadJob(str(p), f"/e/{p.name}", UploadRequest({"fileName": p.name, "folder": "/e"},
            p, p.stat().st_size)) for p in paths]  # fmt: skip
    log, report = LimitLog(), RunReport("upload")

    async def go() -> None:
        async with ImageKitClient(fake.base_url, private_key=Secret(PRIVATE_KEY)) as client:
            engine = Engine(client, BasicAuthSigner(Secret(PRIVATE_KEY)), log, report,
                            handle_signals=False)  # fmt: skip
            await engine.run(jobs)

    asyncio.run(go())
    assert report.count(Status.UPLOADED) == 120
    assert log.limits[:2] == [AUTO_START, AUTO_START // 2]  # the start; the 503 halves it
    assert max(log.limits) > 4  # then it grows, and says so each time


# --- the controller and its semaphore, alone -------------------------------------------


def feed(controller: Controller, successes: int, start: float, spacing: float) -> float:
    """``successes`` completions, ``spacing`` seconds apart per unit of concurrency."""
    now = start
    for _ in range(successes):
        now += spacing / controller.limit
        controller.on_success(now)
    return now


def test_slow_start_doubles_while_throughput_grows_then_holds() -> None:
    controller = Controller.for_setting("auto")
    assert controller.limit == AUTO_START
    controller.started(0.0)
    now = feed(controller, AUTO_START, 0.0, 0.1)  # latency-bound: throughput grows
    assert controller.limit == 2 * AUTO_START
    now = feed(controller, 2 * AUTO_START, now, 0.1)
    assert controller.limit == 4 * AUTO_START
    limit = controller.limit
    for _ in range(6):  # CPU-bound from here: throughput flat however many are in flight
        for _ in range(max(controller.limit, 8)):
            now += 0.001
            controller.on_success(now)
    assert not controller.slow_start
    assert controller.limit <= limit * 2


def test_one_noisy_round_does_not_end_slow_start() -> None:
    controller = Controller.for_setting("auto")
    controller.started(0.0)
    now = feed(controller, AUTO_START, 0.0, 0.1)
    assert controller.limit == 2 * AUTO_START
    now = feed(controller, 2 * AUTO_START, now, 0.3)  # one slow round: a hiccup, not the knee
    assert controller.slow_start
    assert controller.limit == 2 * AUTO_START
    feed(controller, 2 * AUTO_START, now, 0.1)  # throughput grows again: keep doubling
    assert controller.limit == 4 * AUTO_START
    assert controller.slow_start


def test_congestion_halves_once_per_burst_then_regrows_by_one_per_round() -> None:
    controller = Controller.for_setting(32)
    assert controller.limit == 32
    assert not controller.slow_start
    assert controller.on_congestion(10.0) == 16
    assert controller.on_congestion(10.2) == 16  # the same burst
    assert controller.on_congestion(11.5) == 8
    now = 11.5
    for expected in (9, 10):
        for _ in range(max(controller.limit, 8)):
            now += 0.01
            controller.on_success(now)
        assert controller.limit == expected
    assert controller.on_congestion(now + 5) == 5


def test_fixed_j_never_exceeds_n_and_caps_lower_the_ceiling() -> None:
    controller = Controller.for_setting(6)
    feed(controller, 200, 0.0, 0.01)
    assert controller.limit == 6
    assert Controller.for_setting("auto", cap=3).limit == 3
    assert Controller.for_setting(256, cap=20).ceiling == 20
    assert Controller.for_setting("auto").ceiling == AUTO_MAX
    assert cap_note(256, 20) is not None
    assert cap_note(16, 20) is None
    assert cap_note("auto", 20) is None


def test_adaptive_limit_shrinks_by_waiting_and_grows_at_once() -> None:
    async def go() -> list[int]:
        limit = AdaptiveLimit(2)
        seen: list[int] = []

        async def holder() -> None:
            async with limit.slot():
                seen.append(limit.held)
                await asyncio.sleep(0.01)

        await limit.acquire()
        await limit.acquire()
        waiting = asyncio.create_task(holder())
        await asyncio.sleep(0.01)
        assert not seen  # full
        limit.set_limit(3)
        await asyncio.sleep(0)
        assert seen == [3]
        await waiting
        limit.set_limit(1)
        limit.release()
        late = asyncio.create_task(holder())
        await asyncio.sleep(0.01)
        assert seen == [3]  # one still held, limit 1: no room
        limit.release()
        await late
        return seen

    assert asyncio.run(go()) == [3, 1]


def test_gate_paces_at_the_stated_rate() -> None:
    async def go() -> list[float]:
        gate = PauseGate()
        gate.pause(0.0, pacing=0.05)
        loop = asyncio.get_running_loop()
        times: list[float] = []

        async def one() -> None:
            await gate.wait()
            times.append(loop.time())

        await asyncio.gather(*(one() for _ in range(5)))
        return times

    times = asyncio.run(go())
    assert times[-1] - times[0] >= 4 * 0.045


def test_plain_progress_line_shows_the_concurrency() -> None:
    reporter = PlainReporter(Console(file=sys.stderr), every_s=10)
    assert "-j" not in reporter.progress_line(1.0)
    reporter.concurrency(16)
    assert reporter.progress_line(1.0).endswith("-j 16")
