"""How soon a huge ``--manifest`` starts uploading, and how much of it was read by then.

``python tests/benchmarks/manifest.py --rows 1000000`` writes a CSV manifest of that many
rows (one small file under as many names), starts the fake in this process and the CLI as
a child, and when the first upload request reaches the fake prints the time since the
child started and the child's read offset in the manifest (from ``/proc``, Linux only),
then stops the child. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(REPO))

from tests.fake_imagekit import FakeServer, FakeState  # noqa: E402


def read_offset(pid: int, path: Path) -> int | None:
    """The child's file position in ``path``, or None if it has no such file open."""
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                info = Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
                return int(info.split()[1])
        except OSError:
            continue
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="manifest-bench-") as work_dir:
        work = Path(work_dir)
        (work / "a.jpg").write_bytes(b"x" * 100)
        manifest = work / "big.csv"
        with manifest.open("w") as out:
            out.write("path,name\n")
            out.writelines(f"a.jpg,n{i}.jpg\n" for i in range(args.rows))
        (work / "storage").mkdir()
        state = FakeState(work / "storage", plan="enterprise")
        server = FakeServer(state).start()
        first = threading.Event()
        state.on_upload = first.set
        env = dict(os.environ, IMAGEKIT_PRIVATE_KEY=state.private_key,
                   IMAGEKIT_BASE_URL=server.base_url, IMAGEKIT_STATE_DIR=str(work),
                   IMAGEKIT_CONFIG=str(work / "config.toml"))  # fmt: skip
        command = [sys.executable, "-m", "imagekit_cli", "-q", "upload", "--manifest",
                   str(manifest), "-o", "jsonl", "--progress", "none"]  # fmt: skip
        started = time.monotonic()
        child = subprocess.Popen(
            command, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            if not first.wait(120):
                print("no upload within 120 s", file=sys.stderr)
                return 1
            elapsed = time.monotonic() - started
            offset = read_offset(child.pid, manifest)
        finally:
            child.terminate()
            child.wait()
            server.stop()
        size = manifest.stat().st_size
        print(f"{args.rows} rows ({size} bytes): first upload after {elapsed:.2f} s "
              f"(interpreter start included), manifest read to byte {offset}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
