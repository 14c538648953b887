"""Limits on what a server may make us read, and which connection failures are final
or leave the outcome unknown.

A server answer is read into memory only up to a limit, so a broken or hostile server
(or signing backend) cannot exhaust memory; a TLS certificate that fails verification is
a configuration problem, not a transient one, so it is never retried. A request whose
body went out in full before the connection failed may have been acted on: that failure
is ambiguous, and the caller must look before sending it again.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Protocol

from imagekit_cli.errors import AnswerLostError, CertificateError, ServerError, TransportError

API_ANSWER_LIMIT = 32 * 1024 * 1024  # a 1000-item list page is a few MB
SIGNING_ANSWER_LIMIT = 64 * 1024  # {token, expire, signature} or {token} is under 2 KB
ERROR_ANSWER_LIMIT = 64 * 1024  # enough for any error message; the rest is dropped


class Answer(Protocol):
    """The part of a streamed HTTP response that ``read_bounded`` needs."""

    status_code: int

    @property
    def headers(self) -> Mapping[str, str]:
        """The response headers."""
        ...

    def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The decoded body, chunk by chunk."""
        ...


async def read_bounded(answer: Answer, limit: int = API_ANSWER_LIMIT) -> bytes:
    """The body, at most ``limit`` bytes. An error answer (4xx/5xx) is cut at
    ``ERROR_ANSWER_LIMIT``; a success answer over ``limit`` is a ServerError, not read on."""
    failed = answer.status_code >= 400
    limit = ERROR_ANSWER_LIMIT if failed else limit
    body = bytearray()
    async for chunk in answer.aiter_bytes():
        body += chunk
        if len(body) > limit:
            if failed:
                return bytes(body[:limit])
            shown = f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit >> 10} KiB"
            raise ServerError(
                f"the answer is larger than {shown}; not read further",
                status=answer.status_code,
                request_id=answer.headers.get("x-ik-requestid"),
            )
    return bytes(body)


class PageGuard:
    """Detects a list endpoint that ignores ``skip``: the page after a full page begins
    with the same file, so paging on would loop forever."""

    def __init__(self) -> None:
        self._first: dict[str, tuple[int, object]] = {}

    def check(self, query: str, skip: int, items: Sequence[Any], path: str) -> None:
        """Remember the first file of the page of ``query`` (the URL without ``skip``)
        at ``skip``; raise if the page before began with the same file."""
        first = items[0].get("fileId") if items and isinstance(items[0], dict) else None
        if first is None:
            return
        earlier = self._first.get(query)
        if earlier is not None and earlier[0] < skip and earlier[1] == first:
            raise ServerError(
                f"the list API returned the same page for {path} at skip={earlier[0]} and "
                f"skip={skip}: it ignores 'skip', so listing stopped instead of looping forever",
                status=200,
                hint="Check --base-url (a proxy may drop the query string).",
            )
        self._first[query] = (skip, first)


def certificate_error(exc: BaseException, host: str) -> CertificateError | None:
    """A CertificateError when ``exc`` was caused by a failed certificate check of ``host``."""
    seen: BaseException | None = exc
    while seen is not None and not isinstance(seen, ssl.SSLCertVerificationError):
        seen = seen.__cause__ or seen.__context__
    if seen is None:
        return None
    return CertificateError(
        f"The TLS certificate of {host} could not be verified ({seen.verify_message}); "
        "nothing was sent.",
        hint="Fix the server's certificate, or if a proxy of yours re-signs traffic, point "
        "SSL_CERT_FILE at its CA bundle.",
    )


class SentInFull:
    """Wraps a request body and records whether every chunk of it was handed to the
    connection: the generator is resumed past its last chunk only once that chunk has
    been written."""

    def __init__(self, body: AsyncIterator[bytes]) -> None:
        self._body = body
        self.done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._body:
            yield chunk
        self.done = True


def lost_answer(exc: TransportError, sent: SentInFull, sha256: str | None) -> TransportError:
    """``exc`` as an AnswerLostError when the body had gone out in full (the server may
    have stored it); unchanged when it had not (nothing can have been stored)."""
    if not sent.done:
        return exc
    return AnswerLostError(
        f"{exc.message.rstrip('.')}, after the request was sent in full (it may have been stored)",
        sha256=sha256,
    )
