"""The upload body: multipart/form-data streamed from disk with its length known up front.

The request carries a Content-Length, so the file is never buffered whole. A file larger
than one chunk is read and hashed (sha256, kept for the sync state) in a worker thread,
one chunk ahead of the socket: the event loop only encrypts and sends, so a large upload
keeps pace with curl and the other uploads in flight are not starved. A small file is
read in one go on the loop, where a thread hop would cost more than it saves.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from imagekit_cli.errors import LocalFileError

CHUNK_SIZE = 256 * 1024

ProgressCallback = Callable[[int], None]


def header_safe(name: str) -> str:
    """The part's ``filename``: ImageKit ignores it, so keep it plain ASCII for the header."""
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name)
    return safe or "upload"


class _FileChunks:
    """Reads exactly ``size`` bytes of an open file chunk by chunk, hashing as it goes.

    ``read`` is called from one thread at a time (the loop, or one worker per chunk in turn),
    never concurrently, so the digest needs no lock.
    """

    def __init__(self, path: str | Path, size: int) -> None:
        try:
            self._handle: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise LocalFileError(f"cannot read {path}: {exc.strerror}") from None
        if os.fstat(self._handle.fileno()).st_size != size:
            self._handle.close()
            raise LocalFileError("file changed since planning (size differs)")
        self._left = size
        self.digest = hashlib.sha256()

    @property
    def done(self) -> bool:
        """Whether every byte has been read."""
        return self._left == 0

    def read(self) -> bytes:
        """The next chunk; at the end, checks that the file did not grow."""
        chunk = self._handle.read(min(CHUNK_SIZE, self._left))
        if not chunk:
            raise LocalFileError("file shrank while uploading; not sent truncated")
        self._left -= len(chunk)
        self.digest.update(chunk)
        if self._left == 0 and self._handle.read(1):
            raise LocalFileError("file grew while uploading; not sent truncated")
        return chunk

    def close(self) -> None:
        """Close the file."""
        self._handle.close()


def _close_when_done(chunks: _FileChunks, pending: asyncio.Future[bytes]) -> None:
    """Close the file once a read still running in a worker has finished with it."""

    def close(future: asyncio.Future[bytes]) -> None:
        if not future.cancelled():
            future.exception()  # an abandoned read's error is moot; do not log it as lost
        chunks.close()

    pending.add_done_callback(close)


@dataclass
class MultipartBody:
    """A multipart/form-data body streamed from disk with a precomputed length."""

    fields: Mapping[str, str]
    path: str | Path | None
    size: int
    url: str | None
    on_bytes: ProgressCallback | None
    boundary: str = field(default_factory=lambda: secrets.token_hex(16))
    sha256: str | None = None

    def _field_part(self, name: str, value: str) -> bytes:
        return (
            (f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n').encode()
            + value.encode()
            + b"\r\n"
        )

    def _parts(self) -> tuple[bytes, bytes]:
        head = b"".join(self._field_part(k, v) for k, v in self.fields.items())
        if self.url is not None:
            return head + self._field_part("file", self.url), f"--{self.boundary}--\r\n".encode()
        filename = header_safe(self.fields.get("fileName", "upload"))
        head += (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        return head, f"\r\n--{self.boundary}--\r\n".encode()

    @property
    def content_type(self) -> str:
        """The Content-Type header, with this body's boundary."""
        return f"multipart/form-data; boundary={self.boundary}"

    def length(self) -> int:
        """The Content-Length: the whole body, known before a byte is read."""
        head, tail = self._parts()
        return len(head) + (0 if self.url is not None else self.size) + len(tail)

    async def stream(self) -> AsyncIterator[bytes]:
        """The body; a small file goes out as one write, head, bytes and tail together."""
        head, tail = self._parts()
        if self.path is None:
            yield head + tail
            return
        chunks = _FileChunks(self.path, self.size)
        if self.size <= CHUNK_SIZE:
            try:
                chunk = chunks.read() if self.size else b""
            finally:
                chunks.close()
            self.sha256 = chunks.digest.hexdigest()
            self._progress(len(chunk))
            yield head + chunk + tail
            return
        yield head
        async for chunk in self._read_ahead(chunks):
            self._progress(len(chunk))
            yield chunk
        self.sha256 = chunks.digest.hexdigest()
        yield tail

    @staticmethod
    async def _read_ahead(chunks: _FileChunks) -> AsyncIterator[bytes]:
        """The file's chunks, each read and hashed in a worker while the previous one is sent."""
        loop = asyncio.get_running_loop()
        pending = loop.run_in_executor(None, chunks.read)
        try:
            while True:
                chunk = await pending
                last = chunks.done  # no read is running: the only one was just awaited
                if not last:
                    pending = loop.run_in_executor(None, chunks.read)
                yield chunk
                if last:
                    return
        finally:
            _close_when_done(chunks, pending)

    def _progress(self, count: int) -> None:
        if self.on_bytes is not None:
            self.on_bytes(count)
