"""Run the CLI as a child process and measure it: wall time, CPU seconds, peak RSS.

Peak memory is the child's own ``VmHWM`` (from /proc at exit): ``ru_maxrss`` would also
count the forked copy of a large parent from before ``exec``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_WRAPPER = """
import atexit, runpy, sys
out = sys.argv[1]
def _peak():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                with open(out, "w") as handle:
                    handle.write(line.split()[1])
atexit.register(_peak)
sys.argv = sys.argv[2:]
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


@dataclass(frozen=True)
class Measured:
    returncode: int
    stdout: str
    stderr: str
    wall_s: float
    cpu_s: float
    peak_rss_mb: float


def run_cli_measured(
    args: Sequence[str],
    env: Mapping[str, str],
    cwd: Path | None = None,
    module: str = "imagekit_cli",
) -> Measured:
    """Run ``imagekit ARGS`` (or ``python -m MODULE ARGS``) to completion and measure it."""
    with tempfile.TemporaryDirectory() as tmp:
        peak_file = Path(tmp) / "peak"
        out_path, err_path = Path(tmp) / "out", Path(tmp) / "err"
        with out_path.open("wb") as out, err_path.open("wb") as err:
            started = time.monotonic()
            proc = subprocess.Popen(
                [sys.executable, "-c", _WRAPPER, str(peak_file), module, *args],
                env={**os.environ, **env}, stdout=out, stderr=err, cwd=cwd,
            )  # fmt: skip
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        peak_kb = float(peak_file.read_text()) if peak_file.exists() else float("nan")
        return Measured(
            returncode=proc.returncode,
            stdout=out_path.read_text(errors="replace"),
            stderr=err_path.read_text(errors="replace"),
            wall_s=wall,
            cpu_s=usage.ru_utime + usage.ru_stime,
            peak_rss_mb=peak_kb / 1024,
        )
