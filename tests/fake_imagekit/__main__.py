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
from tests.fake_imagekit.tls import server_context


def _rate(text: str | None) -> tuple[int, int] | None:
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
    parser.add_argument(
        "--https", metavar="CA_PEM", type=Path, default=None,
        help="serve https with a fresh self-signed CA, written to CA_PEM for clients to trust",
    )  # fmt: skip
    parser.add_argument("--plan", default="enterprise")
    parser.add_argument("--private-key", default="private_fake_key_0123456789")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fake-imagekit-") as storage:
        state = FakeState(Path(storage), private_key=args.private_key, plan=args.plan)
        state.faults.latency = args.latency
        state.faults.media_rate_limit = _rate(args.media_rate_limit)
        state.faults.upload_rate_limit = _rate(args.upload_rate_limit)
        context = server_context(args.https) if args.https else None
        server = FakeServer(state, args.port, context).start()
        print(f"READY {server.base_url}", flush=True)
        done = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        signal.signal(signal.SIGINT, lambda *_: done.set())
        done.wait()
        server.stop()


if __name__ == "__main__":
    main()
