"""Shared fixtures: isolation from the user's environment, the fake server, a CLI runner.

Every CLI run goes through ``cli``, which keeps its output; after each test the
``no_secret_leaks`` guard asserts that the fake account's private key appears in none of
it, nor in any report file the test wrote.
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from imagekit_cli.cli import cli as cli_group
from imagekit_cli.retry import RetryPolicy
from tests.fake_imagekit import FakeServer, FakeState

PRIVATE_KEY = "private_fake_key_0123456789"
PUBLIC_KEY = "public_fake_key_0123456789"


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


class CliRecorder:
    """Runs the CLI in-process (CliRunner) or as a subprocess and keeps every output."""

    def __init__(self) -> None:
        self.outputs: list[str] = []

    def __call__(
        self, *args: str, env: dict[str, str] | None = None, input: str | bytes | None = None
    ) -> CliResult:
        runner = CliRunner()
        result = runner.invoke(cli_group, list(args), env=env, input=input, catch_exceptions=False)
        out = CliResult(result.exit_code, result.stdout, result.stderr)
        self.outputs += [out.stdout, out.stderr]
        return out

    def record(self, *texts: str) -> None:
        self.outputs.extend(texts)


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """No IMAGEKIT_* from the developer's shell; config and state in fresh temp dirs."""
    for name in list(os.environ):
        if name.startswith(("IMAGEKIT_", "IMAGE_KIT_")) or name in (
            "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "NO_COLOR", "CI",
        ):  # fmt: skip
            monkeypatch.delenv(name, raising=False)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("IMAGEKIT_CONFIG", str(home / "config.toml"))
    monkeypatch.setenv("IMAGEKIT_STATE_DIR", str(home / "state"))
    return home


@pytest.fixture
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeState]:
    """A fresh fake ImageKit account served on 127.0.0.1."""
    storage = tmp_path_factory.mktemp("fake-storage")
    state = FakeState(storage, private_key=PRIVATE_KEY, public_key=PUBLIC_KEY)
    server = FakeServer(state).start()
    try:
        yield state
    finally:
        server.stop()


@pytest.fixture
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backoff (the wait when the server names none) 20x shorter, for in-process runs.

    The retry decisions are unchanged: which errors retry, how many attempts, and waits
    the server names (``Retry-After``, ``X-RateLimit-Reset``) keep their full length.
    """
    backoff = RetryPolicy.backoff

    def shorter(self: RetryPolicy, attempt: int, rng: random.Random) -> float:
        return backoff(replace(self, backoff_base_s=self.backoff_base_s / 20), attempt, rng)

    monkeypatch.setattr(RetryPolicy, "backoff", shorter)


@pytest.fixture
def env(fake: FakeState) -> dict[str, str]:
    """Environment for a CLI run against the fake with the private key."""
    return {
        "IMAGEKIT_PRIVATE_KEY": PRIVATE_KEY,
        "IMAGEKIT_PUBLIC_KEY": PUBLIC_KEY,
        "IMAGEKIT_BASE_URL": fake.base_url,
    }


@pytest.fixture
def cli() -> Iterator[CliRecorder]:
    """Runs the CLI; afterwards asserts the private key is in none of its output."""
    recorder = CliRecorder()
    yield recorder
    for text in recorder.outputs:
        assert PRIVATE_KEY not in text, "the private key leaked into CLI output"


@pytest.fixture(autouse=True)
def no_secret_leaks(capfd: pytest.CaptureFixture[str], tmp_path: Path) -> Iterator[None]:
    """The private key never appears in any captured output or report file."""
    yield
    captured = capfd.readouterr()
    texts = [captured.out, captured.err]
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".csv", ".xml", ".md", ".log"):
            texts.append(path.read_text(errors="replace"))
    for text in texts:
        assert PRIVATE_KEY not in text, "the private key leaked into output or a report"
    sys.stdout.flush()


def make_file(path: Path, size: int, seed: int = 0) -> Path:
    """A file of ``size`` deterministic bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    block = bytes((seed + i) % 251 for i in range(min(size, 65536))) or b""
    with path.open("wb") as out:
        left = size
        while left > 0:
            out.write(block[:left])
            left -= len(block[:left])
    return path
