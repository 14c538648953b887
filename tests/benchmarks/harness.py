"""What every benchmark scenario shares: the fake in its own process (http or https), the CLI
as a measured child process, the exact-result check, and the table of results."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.measure import Measured, run_cli_measured

REPO = Path(__file__).resolve().parents[2]
KEY = "private_fake_key_0123456789"
MB = 1024 * 1024


class WrongResult(Exception):
    """The fake does not hold what a scenario should have produced."""


@dataclass
class Row:
    scenario: str
    measure: str
    value: str
    target: str = ""
    met: bool | None = None


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, scenario: str, measure: str, value: str, target: str = "",
            met: bool | None = None) -> None:  # fmt: skip
        self.rows.append(Row(scenario, measure, value, target, met))
        mark = "" if met is None else (" [met]" if met else " [NOT met]")
        print(f"  {measure}: {value}{'  target ' + target if target else ''}{mark}", flush=True)


@dataclass(frozen=True)
class Harness:
    """Where scenarios work, and whether the fake speaks https (``ca`` is its CA's PEM)."""

    work: Path
    ca: Path | None

    @property
    def scheme(self) -> str:
        return "https" if self.ca else "http"

    @property
    def verify(self) -> str | bool:
        """httpx's ``verify`` for talking to the fake: its CA, never verification off."""
        return str(self.ca) if self.ca else True

    @contextmanager
    def fake_server(self, latency: float = 0.0, media_rate_limit: str | None = None,
                    upload_rate_limit: str | None = None) -> Iterator[str]:  # fmt: skip
        """A fresh fake in its own process; yields its base URL."""
        cmd = [sys.executable, "-m", "tests.fake_imagekit", "--latency", str(latency),
               "--plan", "enterprise", "--private-key", KEY]  # fmt: skip
        if media_rate_limit:
            cmd += ["--media-rate-limit", media_rate_limit]
        if upload_rate_limit:
            cmd += ["--upload-rate-limit", upload_rate_limit]
        if self.ca:
            cmd += ["--https", str(self.ca)]
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("READY "):
            proc.kill()
            raise RuntimeError(f"the fake did not start: {line!r}")
        try:
            yield line.split()[1]
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
            proc.stdout.close()

    def env_for(self, base: str) -> dict[str, str]:
        """The CLI's environment against ``base``; over https it trusts the fake's CA only."""
        env = {"IMAGEKIT_BASE_URL": base, "IMAGEKIT_PRIVATE_KEY": KEY, "CI": "true"}
        if self.ca:
            env["SSL_CERT_FILE"] = str(self.ca)
        return env

    def summary(self, base: str, reset: bool = False) -> dict[str, Any]:
        response = httpx.get(f"{base}/_fake/summary", params={"reset": "1" if reset else "0"},
                             timeout=120, verify=self.verify)  # fmt: skip
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def check_exact(self, base: str, folder: str, expected: dict[str, int],
                    versions: int = 1) -> None:  # fmt: skip
        """The fake holds exactly ``expected`` under ``folder``: count, paths, sizes."""
        files = self.summary(base)["files"]
        want = {f"{folder}/{rel}": size for rel, size in expected.items()}
        got = {path: meta["size"] for path, meta in files.items()}
        if got != want:
            missing, extra = set(want) - set(got), set(got) - set(want)
            raise WrongResult(
                f"fake holds {len(got)} files, expected {len(want)}; "
                f"missing {sorted(missing)[:3]}, extra {sorted(extra)[:3]}"
            )
        if any(meta["versions"] > versions for meta in files.values()):
            raise WrongResult("some files were uploaded more than once")

    def run(self, args: list[str], base: str) -> Measured:
        """``imagekit ARGS`` against ``base``, measured, whatever its exit code."""
        return run_cli_measured(args, self.env_for(base))

    def cli(self, args: list[str], base: str) -> Measured:
        """``imagekit ARGS`` against ``base``, measured; a non-zero exit is a wrong result."""
        run = self.run(args, base)
        if run.returncode != 0:
            raise WrongResult(f"imagekit {' '.join(args[:3])} exited {run.returncode}: "
                              f"{run.stderr[-500:]}")  # fmt: skip
        return run


def make_tree(root: Path, count: int, folders: int, size: int) -> dict[str, int]:
    """``count`` files in ``folders`` folders; returns relative path -> size."""
    block = os.urandom(size)
    expected = {}
    for f in range(folders):
        (root / f"dir{f:02}").mkdir(parents=True, exist_ok=True)
    for i in range(count):
        rel = f"dir{i % folders:02}/file{i:06}.jpg"
        (root / rel).write_bytes(block[: size - 8] + i.to_bytes(8, "big") if size >= 8 else block)
        expected[rel] = size
    return expected
