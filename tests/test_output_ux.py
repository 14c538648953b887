"""What a person and a CI log read: the results table, the type-skip line, no doubled lines."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from imagekit_cli.report import FileResult, Status
from imagekit_cli.tables import print_table, shorten_middle
from tests.conftest import CliRecorder, make_file

LONG = "photos/2024/summer/holidays/a-rather-long-folder-name/IMG_20240712_183055_HDR.jpg"
URL = "https://ik.imagekit.io/demo/s/IMG_20240712.jpg"


def _table(width: int, terminal: bool) -> list[str]:
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=terminal, color_system=None)
    rows = [
        FileResult(LONG, "/site/" + LONG, Status.UPLOADED, size=123456, url=URL),
        FileResult("a.heic", "/site/a.heic", Status.SKIPPED, "type not allowed", 5),
    ]
    print_table(rows, console)
    return buffer.getvalue().splitlines()


def test_table_at_80_columns_keeps_urls_whole_and_shortens_paths_in_the_middle() -> None:
    lines = _table(80, terminal=True)
    assert all(len(line) <= 80 for line in lines), lines
    row = next(line for line in lines if line.startswith("uploaded"))
    assert URL in row
    assert "phot…" in row
    assert "HDR.jpg" in row
    assert len(lines) == 3  # header and two rows: nothing folded onto a second line


def test_piped_table_has_no_trailing_spaces_and_full_paths() -> None:
    lines = _table(1000, terminal=False)
    assert lines
    assert all(line == line.rstrip() for line in lines)
    assert any(LONG in line for line in lines)


def test_shorten_middle_keeps_head_and_tail() -> None:
    assert shorten_middle("abcdefghijklmnop", 7) == "ab…mnop"
    assert shorten_middle("short", 7) == "short"


def test_type_skips_are_explained_on_stderr_even_with_quiet(
    cli: CliRecorder, tmp_path: Path
) -> None:
    for i in range(4):
        make_file(tmp_path / "p" / f"IMG_{i}.HEIC", 50, i)
    make_file(tmp_path / "p" / "raw.psd", 50)
    make_file(tmp_path / "p" / "ok.jpg", 50)
    result = cli("upload", str(tmp_path / "p"), "--dry-run", "-q")
    assert result.exit_code == 0
    line = next(x for x in result.stderr.splitlines() if x.startswith("Skipped by type:"))
    assert "4 .heic, 1 .psd" in line
    assert "--allow-ext heic --allow-ext psd, or --any-type" in line
    assert "Skipped by type" not in result.stdout
    allowed = cli("upload", str(tmp_path / "p"), "--dry-run", "-q", "--allow-ext", "heic",
                  "--allow-ext", "psd")  # fmt: skip
    assert "Skipped by type" not in allowed.stderr


def test_ci_log_lists_each_file_once(tmp_path: Path) -> None:
    for name in ("one.jpg", "two.jpg", "three.jpg"):
        make_file(tmp_path / "d" / name, 20)
    log = tmp_path / "ci.log"
    with log.open("w") as handle:
        done = subprocess.run(
            [sys.executable, "-m", "imagekit_cli", "upload", str(tmp_path / "d"), "--dry-run"],
            stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, "CI": "true"},
            timeout=60, check=False,
        )  # fmt: skip
    assert done.returncode == 0
    text = log.read_text()
    for name in ("one.jpg", "two.jpg", "three.jpg"):
        assert sum(name in line for line in text.splitlines()) == 1, text
    assert "Planned 3, skipped 0" in text
