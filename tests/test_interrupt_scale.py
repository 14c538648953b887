"""Interrupting a run over a large plan: quick, bounded, every planned file in the report.

Runs the CLI as a subprocess against the fake; the merge of the interrupted run's journal
exits as the run did.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import make_file
from tests.fake_imagekit import FakeState
from tests.test_flow_end import imagekit, wait_until

ROWS = 3000


def manifest(tmp_path: Path, rows: int) -> Path:
    """A CSV manifest of ``rows`` rows, all one small file under different names; the last
    half names a file that does not exist (reached only after the interrupt)."""
    source = make_file(tmp_path / "one.jpg", 500)
    missing = tmp_path / "gone.jpg"
    path = tmp_path / "big.csv"
    lines = ["path,folder,name"] + [
        f"{source if i < rows // 2 else missing},/bulk/f{i % 10},img{i}.jpg" for i in range(rows)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def interrupted_run(
    fake: FakeState,
    env: dict[str, str],
    tmp_path: Path,
    rows: int = ROWS,
    sig: signal.Signals = signal.SIGINT,
) -> tuple[str, str, Path]:
    """Start an upload of the manifest, signal once uploads finish; return stdout, stderr
    and the journal."""
    report = tmp_path / "run.jsonl"
    fake.faults.latency = 0.2
    proc = imagekit("upload", "--manifest", str(manifest(tmp_path, rows)), "-j", "4", "-v",
                    "--progress", "plain", "--report", str(report), env=env,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    wait_until(lambda: len(fake.uploads_ok()) >= 4)
    os.kill(proc.pid, sig)
    out, err = proc.communicate(timeout=60)  # minutes before the fix, for 200,000 rows
    assert proc.returncode == 130, err
    return out, err, report


def check_every_row(out: str, err: str, report: Path, rows: int) -> None:
    """Every row is in the journal, the rest as not started; one stderr line; a short table."""
    records = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    assert [r["remote_path"] for r in records if r["status"] != "skipped"] != []
    assert sorted(r["remote_path"] for r in records) == sorted(
        f"/bulk/f{i % 10}/img{i}.jpg" for i in range(rows)
    )
    skipped = [r for r in records if r["status"] == "skipped"]
    assert {r["reason"] for r in skipped} == {"not started: interrupted"}
    assert f"interrupted: {len(skipped)} file(s) not started" in err
    assert "not started: interrupted" not in err  # one line, not one per file (even with -v)
    assert "Traceback" not in err
    table = [line for line in out.splitlines() if line.startswith(("uploaded", "skipped"))]
    assert len(table) == 500  # the end table is capped, the rest stays in the report
    assert f"... and {rows - 500} more file(s), not shown" in out


def test_interrupt_reports_every_planned_file_in_one_line(
    fake: FakeState, env: dict[str, str], tmp_path: Path
) -> None:
    out, err, report = interrupted_run(fake, env, tmp_path)
    check_every_row(out, err, report, ROWS)
    records = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    missing = [r for r in records if r["path"].endswith("gone.jpg")]
    # rows read after the signal are not checked (no stat): the missing file is not started
    assert len(missing) == ROWS // 2
    assert {(r["status"], r["size"]) for r in missing} == {("skipped", 0)}


@pytest.mark.slow
def test_sigterm_on_a_large_manifest_reports_every_row(
    fake: FakeState, env: dict[str, str], tmp_path: Path
) -> None:
    out, err, report = interrupted_run(fake, env, tmp_path, 50_000, signal.SIGTERM)
    check_every_row(out, err, report, 50_000)


def test_merge_of_an_interrupted_journal_exits_130_without_a_rate(
    fake: FakeState, env: dict[str, str], tmp_path: Path
) -> None:
    _, _, report = interrupted_run(fake, env, tmp_path)
    merged = imagekit("report", "merge", str(report), "-o", "json", env=env,
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    out, err = merged.communicate(timeout=60)
    assert merged.returncode == 130, err
    assert json.loads(out)["interrupted"] is True
    assert "files/s" not in err
