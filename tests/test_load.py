"""Load: 20,000 tiny files in one run at -j 32 (marked slow; still runs in .ci/run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fake_imagekit import FakeState
from tests.measure import run_cli_measured

FILES = 20_000
RSS_LIMIT_MB = 200


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_twenty_thousand_files(fake: FakeState, env, tmp_path: Path) -> None:
    root = tmp_path / "t"
    for folder in range(40):
        (root / f"d{folder}").mkdir(parents=True)
    for i in range(FILES):
        (root / f"d{i % 40}" / f"{i}.txt").write_bytes(b"%d" % i)
    report = tmp_path / "run.jsonl"
    run = run_cli_measured(["-q", "upload", str(root), "--folder", "/load", "-j", "32",
                            "--progress", "plain", "--report", str(report)], env)  # fmt: skip
    print(f"\n20,000 files: {run.wall_s:.1f}s, {FILES / run.wall_s:.0f} files/s, "
          f"CPU {run.cpu_s:.1f}s, peak RSS {run.peak_rss_mb:.0f} MB")  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert len(fake.stored_paths()) == FILES
    records = [json.loads(line) for line in report.read_text().splitlines()]
    assert len(records) == FILES
    assert {r["status"] for r in records} == {"uploaded"}
    assert {r["remote_path"] for r in records} == fake.stored_paths()
    assert fake.peak_in_flight <= 32
    assert run.peak_rss_mb < RSS_LIMIT_MB, f"peak RSS {run.peak_rss_mb:.0f} MB"
