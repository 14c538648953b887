"""The comparison for client CPU per file: the official ``imagekitio`` SDK in a pool of 16
threads, the way its users parallelise uploads.

``python -m tests.benchmarks.sdk_upload ROOT FOLDER`` uploads every file under ROOT to
FOLDER (sub-folders kept) at ``IMAGEKIT_BASE_URL`` with ``IMAGEKIT_PRIVATE_KEY``; over https
it trusts ``SSL_CERT_FILE`` like any httpx client. Exits 1 if any upload failed.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from imagekitio import ImageKit

THREADS = 16


def main() -> int:
    root, folder = Path(sys.argv[1]), sys.argv[2]
    client = ImageKit(private_key=os.environ["IMAGEKIT_PRIVATE_KEY"],
                      base_url=os.environ["IMAGEKIT_BASE_URL"], max_retries=0)  # fmt: skip

    def upload(path: Path) -> None:
        sub = path.parent.relative_to(root).as_posix()
        with path.open("rb") as handle:
            client.files.upload(file=handle, file_name=path.name, folder=f"{folder}/{sub}",
                                use_unique_file_name=False)  # fmt: skip

    paths = sorted(p for p in root.rglob("*") if p.is_file())
    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(upload, p) for p in paths]
    failures = [f for f in futures if f.exception()]
    for future in failures[:3]:
        print(f"upload failed: {future.exception()}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
