"""The ImageKit HTTP client: uploads (v1, v2), listing, details and deletes.

This is the only module that imports httpx. Uploads stream the file from disk in a
multipart body whose length is known up front (so the request carries a Content-Length),
counting bytes for progress and hashing them for the sync state as they go.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from imagekit_cli import __version__
from imagekit_cli.answers import (
    API_ANSWER_LIMIT,
    SIGNING_ANSWER_LIMIT,
    PageGuard,
    certificate_error,
    read_bounded,
)
from imagekit_cli.auth import Credentials, Redactor, basic_auth_header
from imagekit_cli.config import Secret, public_url
from imagekit_cli.errors import (
    APIError,
    BadRequestError,
    CredentialsError,
    LocalFileError,
    RateLimitInfo,
    ServerError,
    SigningError,
    TimeoutError_,
    TransportError,
    api_error_for_status,
)

UPLOAD_HOST = "https://upload.imagekit.io"
API_HOST = "https://api.imagekit.io"
LIST_PAGE_SIZE = 1000
BULK_DELETE_MAX = 100
CHUNK_SIZE = 256 * 1024
_DROPPED_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})

ProgressCallback = Callable[[int], None]
TraceCallback = Callable[[str], None]


@dataclass(frozen=True)
class UploadRequest:
    """One upload: the form fields (``file`` excluded) and where the file comes from.

    Exactly one of ``path`` (streamed from disk, ``size`` bytes expected) and ``url``
    (fetched by ImageKit) is set.
    """

    fields: Mapping[str, str]
    path: str | Path | None = None
    size: int = 0
    url: str | None = None


@dataclass(frozen=True)
class UploadResponse:
    """ImageKit's JSON answer plus what the client learned while sending."""

    body: Mapping[str, Any]
    sha256: str | None = None
    request_id: str | None = None
    status: int = 200


def header_safe(name: str) -> str:
    """The part's ``filename``: ImageKit ignores it, so keep it plain ASCII for the header."""
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name)
    return safe or "upload"


@dataclass
class _MultipartBody:
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
        return f"multipart/form-data; boundary={self.boundary}"

    def length(self) -> int:
        head, tail = self._parts()
        return len(head) + (0 if self.url is not None else self.size) + len(tail)

    async def stream(self) -> AsyncIterator[bytes]:
        """The body; a small file goes out as one write, head, bytes and tail together."""
        head, tail = self._parts()
        if self.path is None:
            yield head + tail
            return
        digest = hashlib.sha256()
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 - closed by the with below
        except OSError as exc:
            raise LocalFileError(f"cannot read {self.path}: {exc.strerror}") from None
        with handle:
            if os.fstat(handle.fileno()).st_size != self.size:
                raise LocalFileError("file changed since planning (size differs)")
            pending, sent, chunk = head, 0, b""
            while sent < self.size:
                chunk = handle.read(min(CHUNK_SIZE, self.size - sent))
                if not chunk:
                    raise LocalFileError("file shrank while uploading; not sent truncated")
                sent += len(chunk)
                digest.update(chunk)
                if self.on_bytes is not None:
                    self.on_bytes(len(chunk))
                if sent < self.size:
                    yield pending + chunk if pending else chunk
                    pending = b""
                elif handle.read(1):
                    raise LocalFileError("file grew while uploading; not sent truncated")
        self.sha256 = digest.hexdigest()
        yield pending + chunk + tail


def _float_header(headers: httpx.Headers, name: str, scale: float = 1.0) -> float | None:
    try:
        return float(headers[name]) * scale
    except (KeyError, ValueError):
        return None


def parse_rate_limit(headers: httpx.Headers) -> RateLimitInfo:
    """The ``X-RateLimit-*`` (milliseconds) and ``Retry-After`` values of a response."""
    retry_after = _float_header(headers, "retry-after")
    if retry_after is None and "retry-after" in headers:
        when = email.utils.parsedate_to_datetime(headers["retry-after"])
        retry_after = max(0.0, when.timestamp() - time.time()) if when else None
    limit = _float_header(headers, "x-ratelimit-limit")
    return RateLimitInfo(
        limit=int(limit) if limit is not None else None,
        interval_s=_float_header(headers, "x-ratelimit-interval", 0.001),
        reset_s=_float_header(headers, "x-ratelimit-reset", 0.001),
        retry_after_s=retry_after,
    )


def error_from_response(response: httpx.Response, redact: Callable[[str], str] = str) -> APIError:
    """The typed APIError of a non-2xx response; its message redacted (servers echo keys)."""
    message = ""
    try:
        body = response.json()
        if isinstance(body, dict):
            message = str(body.get("message") or "")
    except (json.JSONDecodeError, UnicodeDecodeError):
        pass
    if not message:
        message = response.reason_phrase or "no message"
    cls = api_error_for_status(response.status_code)
    return cls(
        redact(message),
        status=response.status_code,
        request_id=response.headers.get("x-ik-requestid"),
        rate_limit=parse_rate_limit(response.headers),
    )


class ImageKitClient:
    """An async client whose connections are lanes: one keep-alive connection per request
    in flight, at most ``concurrency`` of them.

    The engine already bounds how many requests run at once, so each takes a free lane
    (last used first, to reuse warm connections) instead of going through one shared pool,
    whose bookkeeping costs grow with connections x waiting requests.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        private_key: Secret | None = None,
        concurrency: int = 8,
        timeout: float = 60.0,
        trace: TraceCallback | None = None,
        redactor: Redactor | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.upload_base = base_url or UPLOAD_HOST
        self.api_base = base_url or API_HOST
        self._private_key = private_key
        self._trace = trace
        self._redact = redactor or Redactor([private_key])
        self._max_lanes = max(1, concurrency)
        self._transport = transport
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 10.0))
        self._ssl_context = httpx.create_ssl_context()  # verification always on; built once
        self._pages = PageGuard()
        self._hooks: dict[str, list[Callable[..., Any]]] = {}
        if trace is not None:
            self._hooks = {"request": [self._trace_request], "response": [self._trace_response]}
        self._http = self._new_lane()
        self._lanes = [self._http]
        self._free: asyncio.LifoQueue[httpx.AsyncClient] = asyncio.LifoQueue()
        self._free.put_nowait(self._http)

    def _new_lane(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=self._timeout,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            headers={"User-Agent": f"imagekit-cli/{__version__}", "Accept": "application/json"},
            follow_redirects=False,
            event_hooks=self._hooks,
            transport=self._transport,
            verify=self._ssl_context,
        )

    async def _acquire(self) -> httpx.AsyncClient:
        if self._free.empty() and len(self._lanes) < self._max_lanes:
            lane = self._new_lane()
            self._lanes.append(lane)
            return lane
        return await self._free.get()

    async def __aenter__(self) -> ImageKitClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every connection."""
        for lane in self._lanes:
            await lane.aclose()

    async def _trace_request(self, request: httpx.Request) -> None:
        assert self._trace is not None
        headers = " ".join(f"{k}={v}" for k, v in request.headers.items())
        self._trace(self._redact(f"> {request.method} {request.url} {headers}"))

    async def _trace_response(self, response: httpx.Response) -> None:
        assert self._trace is not None
        request_id = response.headers.get("x-ik-requestid", "-")
        self._trace(
            self._redact(
                f"< {response.status_code} {response.request.method} {response.request.url} "
                f"requestId={request_id}"
            )
        )

    def _media_headers(self) -> dict[str, str]:
        if self._private_key is None:
            raise CredentialsError(
                "The media API (list, delete) needs the private key; IMAGEKIT_PRIVATE_KEY is "
                "not set.",
                hint="Export it, or run 'imagekit config init'.",
            )
        return {"Authorization": basic_auth_header(self._private_key)}

    async def _send(self, request: httpx.Request, limit: int = API_ANSWER_LIMIT) -> httpx.Response:
        lane = await self._acquire()
        try:
            streamed = await lane.send(request, stream=True)
            try:
                body = await read_bounded(streamed, limit)
            finally:
                await streamed.aclose()
            kept = [(k, v) for k, v in streamed.headers.items() if k not in _DROPPED_HEADERS]
            response = httpx.Response(streamed.status_code, headers=kept, content=body,
                                      request=request)  # fmt: skip
        except httpx.TimeoutException as exc:
            raise TimeoutError_(f"timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            if (final := certificate_error(exc, request.url.host)) is not None:
                raise final from None
            detail = self._redact(str(exc)) or type(exc).__name__
            raise TransportError(f"connection failed: {detail}") from None
        finally:
            self._free.put_nowait(lane)
        if response.status_code >= 400:
            raise error_from_response(response, self._redact)
        if response.is_redirect:
            target = response.headers.get("location", "?")
            raise BadRequestError(
                f"the server redirected to {target}; not followed, since credentials are "
                "only sent to the configured base URL",
                status=response.status_code,
                request_id=response.headers.get("x-ik-requestid"),
            )
        return response

    async def upload(
        self,
        request: UploadRequest,
        credentials: Credentials,
        *,
        api_version: int = 1,
        on_bytes: ProgressCallback | None = None,
    ) -> UploadResponse:
        """Send one upload attempt; raises a typed error for any failure."""
        body = _MultipartBody(
            {**request.fields, **credentials.fields},
            request.path,
            request.size,
            request.url,
            on_bytes,
        )
        http_request = self._http.build_request(
            "POST",
            f"{self.upload_base}/api/v{api_version}/files/upload",
            content=body.stream(),
            headers={
                **credentials.headers,
                "Content-Type": body.content_type,
                "Content-Length": str(body.length()),
            },
        )
        response = await self._send(http_request)
        data = self._json(response)
        return UploadResponse(
            body=data,
            sha256=body.sha256,
            request_id=response.headers.get("x-ik-requestid"),
            status=response.status_code,
        )

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ServerError(
                "ImageKit answered with a body that is not JSON",
                status=response.status_code,
                request_id=response.headers.get("x-ik-requestid"),
            ) from None

    async def list_page(
        self, path: str, *, skip: int = 0, limit: int = LIST_PAGE_SIZE, file_type: str = "all"
    ) -> list[dict[str, Any]]:
        """One page of ``GET /v1/files`` for the exact folder ``path``."""
        request = self._http.build_request(
            "GET",
            f"{self.api_base}/v1/files",
            params={
                "path": path,
                "type": file_type,
                "skip": skip,
                "limit": limit,
                "sort": "ASC_CREATED",
            },
            headers=self._media_headers(),
        )
        data = self._json(await self._send(request))
        if not isinstance(data, list):
            raise ServerError("the list API did not return an array", status=200)
        self._pages.check(str(request.url.copy_remove_param("skip")), skip, data, path)
        return data

    async def get_details(self, file_id: str) -> dict[str, Any]:
        """``GET /v1/files/{id}/details``."""
        request = self._http.build_request(
            "GET", f"{self.api_base}/v1/files/{file_id}/details", headers=self._media_headers()
        )
        data: dict[str, Any] = self._json(await self._send(request))
        return data

    async def delete(self, file_id: str) -> None:
        """``DELETE /v1/files/{id}``: the file and all its versions."""
        request = self._http.build_request(
            "DELETE", f"{self.api_base}/v1/files/{file_id}", headers=self._media_headers()
        )
        await self._send(request)

    async def bulk_delete_batch(self, file_ids: Sequence[str]) -> list[str]:
        """One ``deleteByFileIds`` call of at most 100 ids; returns the ids deleted."""
        if not 0 < len(file_ids) <= BULK_DELETE_MAX:
            raise ValueError(f"a bulk delete takes 1 to {BULK_DELETE_MAX} ids")
        request = self._http.build_request(
            "POST",
            f"{self.api_base}/v1/files/batch/deleteByFileIds",
            json={"fileIds": list(file_ids)},
            headers=self._media_headers(),
        )
        data = self._json(await self._send(request))
        return list(data.get("successfullyDeletedFileIds", []))

    async def get_json(self, url: str, headers: Mapping[str, str]) -> Any:
        """GET a signing backend; any failure is a SigningError."""
        return await self._signing_call(self._http.build_request("GET", url, headers=headers))

    async def post_json(self, url: str, body: Any, headers: Mapping[str, str]) -> Any:
        """POST JSON to a signing backend; any failure is a SigningError."""
        request = self._http.build_request("POST", url, json=body, headers=headers)
        return await self._signing_call(request)

    async def _signing_call(self, request: httpx.Request) -> Any:
        where = public_url(str(request.url))
        try:
            response = await self._send(request, SIGNING_ANSWER_LIMIT)
            return response.json()
        except APIError as exc:
            raise SigningError(
                f"The auth endpoint {where} answered {exc.status}: {exc.message}.",
                hint="Check --auth-endpoint and --auth-header.",
            ) from None
        except TransportError as exc:
            raise SigningError(f"The auth endpoint {where} could not be reached: {exc}.") from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise SigningError(
                f"The auth endpoint {where} did not answer with JSON.",
                hint="Check --auth-endpoint points at your signing backend.",
            ) from None
