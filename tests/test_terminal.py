"""A person at a terminal: the CLI run in a pseudo-terminal, as a shell would run it."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import PRIVATE_KEY, PUBLIC_KEY, CliRecorder, make_file
from tests.fake_imagekit import FakeState


def run_in_pty(args: list[str], env: dict[str, str], typed: list[str] | None = None,
               timeout: float = 60) -> tuple[int, str]:  # fmt: skip
    """Run ``imagekit ARGS`` on a pty; type each of ``typed`` after a prompt; return output."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "imagekit_cli", *args], stdin=slave, stdout=slave, stderr=slave,
        env={**os.environ, "COLUMNS": "120", "TERM": "xterm-256color", **env}, close_fds=True,
    )  # fmt: skip
    os.close(slave)
    output = b""
    pending = list(typed or [])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
            if pending and output.rstrip().endswith(b":"):
                os.write(master, pending.pop(0).encode() + b"\r")
        elif proc.poll() is not None:
            break
    proc.wait(timeout=10)
    os.close(master)
    return proc.returncode, output.decode(errors="replace")


def test_live_progress_and_table_on_a_terminal(fake: FakeState, tmp_path: Path) -> None:
    for i in range(30):
        make_file(tmp_path / "photos" / f"{i}.jpg", 200_000, i)
    fake.faults.latency = 0.05
    env = {"IMAGEKIT_PRIVATE_KEY": PRIVATE_KEY, "IMAGEKIT_BASE_URL": fake.base_url}
    code, out = run_in_pty(["upload", str(tmp_path / "photos"), "--folder", "/tty", "-j", "4"],
                           env)  # fmt: skip
    assert code == 0, out
    assert "\x1b[" in out  # a live, coloured display
    assert "━" in out  # the overall bar
    assert "30/30 files" in out
    assert "Uploaded 30, skipped 0, failed 0" in out
    assert "https://ik.imagekit.io/fake/tty/0.jpg" in out  # URLs to copy, in the table
    assert len(fake.stored_paths()) == 30
    assert PRIVATE_KEY not in out


def test_config_init_prompts_without_echo(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    code, out = run_in_pty(["config", "init"], {"IMAGEKIT_CONFIG": str(config)},
                           typed=[PRIVATE_KEY, PUBLIC_KEY, ""])  # fmt: skip
    assert code == 0, out
    assert "Private key:" in out
    assert PRIVATE_KEY not in out  # typed, never echoed
    assert PUBLIC_KEY in out  # the public key is echoed as usual
    assert PRIVATE_KEY in config.read_text()
    assert oct(config.stat().st_mode & 0o777) == "0o600"


def test_delete_prompt_shows_its_choices_and_pauses_the_live_display(
    fake: FakeState, cli: CliRecorder, tmp_path: Path
) -> None:
    for i in range(3):
        make_file(tmp_path / "site" / f"{i}.jpg", 100, i)
    for name in ("old-1.jpg", "old-2.jpg"):
        make_file(tmp_path / "old" / name, 10)
    env = {"IMAGEKIT_PRIVATE_KEY": PRIVATE_KEY, "IMAGEKIT_BASE_URL": fake.base_url}
    assert cli("upload", str(tmp_path / "old"), "--folder", "/del", env=env).exit_code == 0
    code, out = run_in_pty(["sync", str(tmp_path / "site"), "/del", "--delete"], env,
                           typed=["y"], timeout=30)  # fmt: skip
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out)
    assert code == 0, plain
    assert "Delete them? [y/N]: " in plain
    listing = plain[plain.index("have no local counterpart") : plain.index("[y/N]: ") + 7]
    assert "━" not in listing  # the live display is paused: no bar drawn over the question
    assert "/del/old-1.jpg" in listing
    assert fake.stored_paths() == {f"/del/{i}.jpg" for i in range(3)}
