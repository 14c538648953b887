"""Run the fake standalone: ``python -m tests.fake_imagekit --latency 0.05``.

Prints ``READY <base url>`` on stdout once listening; used by the benchmark script.
"""

from __future__ import annotations

import argparse
import signal
import tempfile
import threading
from pathlib import Path

from tests.fake_imagekit import FakeServer, FakeState


def _limit(text: str | None) -> tuple[int, int] | None:
    """``10/1000`` -> (10 requests, per 1000 ms); a fixed window per endpoint group."""
    if not text:
        return None
    count, interval = text.split("/")
    return int(count), int(interval)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--media-rate-limit", default=None, help="REQUESTS/INTERVAL_MS")
    parser.add_argument("--upload-rate-limit", default=None, help="REQUESTS/INTERVAL_MS")
    parser.add_argument("--plan", default="enterprise")
    parser.add_argument("--private-key", default="private_fake_key_0123456789")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fake-imagekit-") as storage:
        state = FakeState(Path(storage), private_key=args.private_key, plan=args.plan)
        state.faults.latency = args.latency
        state.faults.media_rate_limit = _limit(args.media_rate_limit)
        state.faults.upload_rate_limit = _limit(args.upload_rate_limit)
        server = FakeServer(state, args.port).start()
        print(f"READY {server.base_url}", flush=True)
        done = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        signal.signal(signal.SIGINT, lambda *_: done.set())
        done.wait()
        server.stop()


if __name__ == "__main__":
    main()
