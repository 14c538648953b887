"""A signing backend written from ImageKit's "Backend token generation" docs, for tests.

- v1 (client-side upload docs): ``GET`` answers ``{token, expire, signature}`` exactly as
  the server SDKs' ``get_authentication_parameters()`` does (UUID4 token, now + 1800 s,
  HMAC-SHA1 hex of ``token + expire`` keyed by the private key).
- v2 (secure client-side upload docs): ``POST`` JSON ``{uploadPayload, expire, publicKey}``
  answers ``{token}`` where token is ``jwt.sign(uploadPayload, privateKey, {expiresIn:
  expire, header: {alg: "HS256", typ: "JWT", kid: publicKey}})``: the payload plus
  ``iat``/``exp``. A bare form-field body raises KeyError, as the docs' backend would.

Options model what sits in front of a real backend: ``cache`` is a caching proxy keyed by
the URL (it honours ``Cache-Control: no-store``), ``clock`` freezes time so that two
requests fall in the same second, ``require`` names headers the backend insists on, and
``huge`` makes it answer with that many bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.conftest import PRIVATE_KEY
from tests.fake_imagekit import AppThread


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_sign(payload: Mapping[str, Any], key: str, expires_in: int, kid: str, now: int) -> str:
    """What ``jsonwebtoken.sign(payload, key, {expiresIn, header})`` produces."""
    header = {"alg": "HS256", "typ": "JWT", "kid": kid}
    claims = {**payload, "iat": now, "exp": now + expires_in}
    signing_input = (
        _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())
    )
    sig = hmac.new(key.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(sig)}"


@dataclass
class Backend:
    """The backend's options and what it saw."""

    cache: bool = False
    clock: Callable[[], float] = time.time
    require: Mapping[str, str] = field(default_factory=dict)
    huge: int = 0
    requests: list[web.Request] = field(default_factory=list)
    bodies: list[Any] = field(default_factory=list)
    _cached: dict[str, dict[str, Any]] = field(default_factory=dict)
    url: str = ""

    def _check(self, request: web.Request) -> None:
        self.requests.append(request)
        for name, value in self.require.items():
            if request.headers.get(name) != value:
                raise web.HTTPUnauthorized(text=f"missing {name}")

    async def v1(self, request: web.Request) -> web.StreamResponse:
        key = str(request.rel_url)
        if (
            self.cache
            and key in self._cached
            and "no-store" not in request.headers.get("Cache-Control", "")
        ):
            return web.json_response(self._cached[key])
        self._check(request)
        if self.huge:
            return web.Response(body=b"{" + b" " * self.huge + b"}")
        token, expire = str(uuid.uuid4()), int(self.clock()) + 1800
        message = f"{token}{expire}".encode()
        signature = hmac.new(PRIVATE_KEY.encode(), message, hashlib.sha1).hexdigest()
        answer = {"token": token, "expire": expire, "signature": signature}
        if self.cache and "no-store" not in request.headers.get("Cache-Control", ""):
            self._cached[key] = answer
        return web.json_response(answer)

    async def v2(self, request: web.Request) -> web.Response:
        self._check(request)
        body = await request.json()
        self.bodies.append(body)
        token = jwt_sign(body["uploadPayload"], PRIVATE_KEY, int(body["expire"]),
                         body["publicKey"], int(self.clock()))  # fmt: skip
        return web.json_response({"token": token})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/auth", self.v1)
        app.router.add_post("/auth", self.v2)
        return app


@contextmanager
def running(backend: Backend) -> Iterator[Backend]:
    """Serve ``backend`` on 127.0.0.1; ``backend.url`` is its /auth endpoint."""
    server = AppThread(backend.app()).start()
    backend.url = f"{server.base_url}/auth"
    try:
        yield backend
    finally:
        server.stop()
