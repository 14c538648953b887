"""The three ways to authenticate an upload, and redaction of what they produce.

- ``private-key``: HTTP Basic with the private key as user name (upload API v1);
- ``signature``: v1 client-side fields ``publicKey``/``token``/``expire``/``signature``;
- ``jwt``: upload API v2 with an HS256 JWT in the ``token`` field whose payload is exactly
  the form fields.

Signing happens per attempt: tokens are single-use, so every retry gets fresh material.
For ``signature`` and ``jwt`` the material comes from the private key or, without one, from
a signing backend (``--auth-endpoint``), so a CI runner can upload holding only the public key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from imagekit_cli.config import Secret, Settings, public_url, split_auth_header
from imagekit_cli.errors import SigningError, UsageError
from imagekit_cli.text import QUERY_SECRET, URL_USERINFO

AUTH_MODES = ("private-key", "signature", "jwt")
SIGNATURE_LIFETIME_S = 1800
JWT_LIFETIME_S = 3600  # the longest ImageKit accepts; each JWT gets a distinct, shorter one
JWT_LIFETIME_SPREAD_S = 3000  # how many distinct lifetimes before one repeats
FRESH_TOKEN_TRIES = 3


@dataclass(frozen=True)
class Credentials:
    """What one attempt adds to its request: headers and extra form fields."""

    headers: Mapping[str, str] = field(default_factory=dict)
    fields: Mapping[str, str] = field(default_factory=dict)


class Signer(Protocol):
    """Produces fresh credentials for one upload attempt."""

    api_version: int

    async def sign(self, fields: Mapping[str, str]) -> Credentials:
        """Credentials for a request carrying exactly ``fields`` (``file`` excluded)."""
        ...


class SigningTransport(Protocol):
    """How a signer reaches a signing backend; implemented by the HTTP client."""

    async def get_json(self, url: str, headers: Mapping[str, str]) -> Any:
        """GET ``url`` and return its JSON body."""
        ...

    async def post_json(self, url: str, body: Any, headers: Mapping[str, str]) -> Any:
        """POST ``body`` as JSON to ``url`` and return its JSON body."""
        ...


def basic_auth_header(private_key: Secret) -> str:
    """``Basic base64("<key>:")``: user name = private key, empty password."""
    raw = f"{private_key.reveal()}:".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def v1_signature(private_key: Secret, token: str, expire: int) -> str:
    """Lowercase hex HMAC-SHA1 of ``token + str(expire)`` keyed by the private key."""
    message = f"{token}{expire}".encode()
    return hmac.new(private_key.reveal().encode(), message, hashlib.sha1).hexdigest()


def jwt_lifetimes() -> Iterator[int]:
    """3600, 3599, ... 601, 3600, ...: JWT lifetimes that differ from one request to the
    next, so two JWTs for the same fields signed within one second still differ (their
    ``exp``), and ImageKit never sees a token twice."""
    for step in itertools.count():
        yield JWT_LIFETIME_S - step % JWT_LIFETIME_SPREAD_S


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _compact_json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(dict(value), separators=(",", ":"), ensure_ascii=False).encode()


def make_jwt(private_key: Secret, public_key: str, payload: Mapping[str, Any]) -> str:
    """An HS256 JWT with ``kid`` = public key; ``payload`` is serialised compactly, in order."""
    header = {"alg": "HS256", "typ": "JWT", "kid": public_key}
    signing_input = _b64url(_compact_json(header)) + "." + _b64url(_compact_json(payload))
    digest = hmac.new(private_key.reveal().encode(), signing_input.encode(), hashlib.sha256)
    return signing_input + "." + _b64url(digest.digest())


class BasicAuthSigner:
    """Server-side upload with the private key in an Authorization header."""

    api_version = 1

    def __init__(self, private_key: Secret) -> None:
        self._header = basic_auth_header(private_key)

    async def sign(self, fields: Mapping[str, str]) -> Credentials:
        """The same Basic header for every attempt."""
        return Credentials(headers={"Authorization": self._header})


class SignatureSigner:
    """v1 client-side auth: a fresh UUID4 token and expire = now + 30 min per attempt."""

    api_version = 1

    def __init__(
        self,
        public_key: str,
        private_key: Secret | None = None,
        endpoint: AuthEndpoint | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if private_key is None and endpoint is None:
            raise UsageError("--auth signature needs a private key or --auth-endpoint.")
        self._public_key = public_key
        self._private_key = private_key
        self._endpoint = endpoint
        self._clock = clock

    async def sign(self, fields: Mapping[str, str]) -> Credentials:
        """Fresh token/expire/signature fields for one attempt."""
        if self._private_key is not None:
            token = str(uuid.uuid4())
            expire = int(self._clock()) + SIGNATURE_LIFETIME_S
            signature = v1_signature(self._private_key, token, expire)
        else:
            assert self._endpoint is not None
            token, expire, signature = await self._endpoint.v1_material()
        return Credentials(
            fields={
                "publicKey": self._public_key,
                "token": token,
                "expire": str(expire),
                "signature": signature,
            }
        )


class JwtSigner:
    """v2 upload: a JWT whose payload is exactly the request's form fields."""

    api_version = 2

    def __init__(
        self,
        public_key: str,
        private_key: Secret | None = None,
        endpoint: AuthEndpoint | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if private_key is None and endpoint is None:
            raise UsageError("--auth jwt needs a private key or --auth-endpoint.")
        self._public_key = public_key
        self._private_key = private_key
        self._endpoint = endpoint
        self._clock = clock
        self._lifetimes = jwt_lifetimes()

    async def sign(self, fields: Mapping[str, str]) -> Credentials:
        """A single-use JWT bound to ``fields``, different from every earlier one."""
        if self._private_key is not None:
            iat = int(self._clock())
            exp = iat + next(self._lifetimes)
            payload: dict[str, Any] = {**fields, "iat": iat, "exp": exp}
            token = make_jwt(self._private_key, self._public_key, payload)
        else:
            assert self._endpoint is not None
            token = await self._endpoint.jwt(fields)
        return Credentials(fields={"token": token})


class AuthEndpoint:
    """A signing backend written from ImageKit's "Backend token generation" docs.

    - v1: ``GET`` → ``{token, expire, signature}``; sent with ``Cache-Control: no-store``
      and a fresh query parameter, so no cache in between hands out a used token;
    - v2: ``POST`` JSON ``{uploadPayload, expire, publicKey}`` → ``{token}``; ``expire``
      (seconds) differs per request, so two JWTs for the same fields never coincide.

    A token the backend already gave in this run is asked for again, then refused.
    """

    def __init__(
        self,
        url: str,
        transport: SigningTransport,
        headers: Mapping[str, str] | None = None,
        public_key: str = "",
    ) -> None:
        self.url = url
        self.shown_url = public_url(url)
        self._transport = transport
        self._headers = dict(headers or {})
        self._public_key = public_key
        self._lifetimes = jwt_lifetimes()
        self._seen: set[bytes] = set()  # digests of the tokens given so far

    def _fresh_url(self) -> str:
        parts = urllib.parse.urlsplit(self.url)
        query = [*urllib.parse.parse_qsl(parts.query), ("nonce", uuid.uuid4().hex)]
        return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))

    def _unused(self, token: str) -> bool:
        digest = hashlib.sha256(token.encode()).digest()
        if digest in self._seen:
            return False
        self._seen.add(digest)
        return True

    async def v1_material(self) -> tuple[str, int, str]:
        """Token, expire and signature for one v1 attempt, never seen before in this run."""
        headers = {**self._headers, "Cache-Control": "no-store"}
        for _ in range(FRESH_TOKEN_TRIES):
            body = await self._transport.get_json(self._fresh_url(), headers)
            try:
                token, expire, signature = body["token"], int(body["expire"]), body["signature"]
            except (TypeError, KeyError, ValueError):
                raise SigningError(
                    f"The auth endpoint {self.shown_url} did not return "
                    "{token, expire, signature}.",
                    hint="Check --auth-endpoint; it must answer GET with that JSON object.",
                ) from None
            if not isinstance(token, str) or not isinstance(signature, str):
                raise SigningError(
                    f"The auth endpoint {self.shown_url} returned non-string token fields."
                )
            if self._unused(token):
                return token, expire, signature
        raise self._reused()

    async def jwt(self, fields: Mapping[str, str]) -> str:
        """A JWT for the given upload fields, never seen before in this run."""
        for _ in range(FRESH_TOKEN_TRIES):
            request = {
                "uploadPayload": dict(fields),
                "expire": next(self._lifetimes),
                "publicKey": self._public_key,
            }
            body = await self._transport.post_json(self.url, request, self._headers)
            token = body.get("token") if isinstance(body, dict) else None
            if not isinstance(token, str) or token.count(".") != 2:
                raise SigningError(
                    f'The auth endpoint {self.shown_url} did not return {{"token": "<jwt>"}}.',
                    hint="Check --auth-endpoint; it must answer POST with that JSON object.",
                )
            if self._unused(token):
                return token
        raise self._reused()

    def _reused(self) -> SigningError:
        return SigningError(
            f"The auth endpoint {self.shown_url} answered {FRESH_TOKEN_TRIES} times with a "
            "token it had already given; ImageKit refuses a token used before.",
            hint="Make the backend sign each request afresh and not cache its answers.",
        )


def build_signer(
    mode: str, settings: Settings, transport: SigningTransport, auth_headers: Mapping[str, str]
) -> Signer:
    """The signer for ``--auth MODE`` from the resolved settings."""
    if mode == "private-key":
        return BasicAuthSigner(settings.require_private_key())
    if settings.private_key is None and not settings.auth_endpoint:
        settings.require_private_key()
    public_key = settings.require_public_key()
    endpoint = None
    if settings.private_key is None and settings.auth_endpoint:
        endpoint = AuthEndpoint(settings.auth_endpoint, transport, auth_headers, public_key)
    if mode == "signature":
        return SignatureSigner(public_key, settings.private_key, endpoint)
    if mode == "jwt":
        return JwtSigner(public_key, settings.private_key, endpoint)
    raise UsageError(f"--auth must be one of {', '.join(AUTH_MODES)}, not '{mode}'.")


_JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")
_SIGNED_FIELD = re.compile(
    r"(?i)(['\"]?(?:signature|token|private_?key)['\"]?\s*[:=]\s*['\"]?)[^\s'\",&;]+"
)
_KEY_SHAPE = re.compile(r"\b(private_)[A-Za-z0-9+/]{16,}={0,2}")
_CREDENTIAL_HEADERS = (
    "authorization", "proxy-authorization", "x-api-key", "api-key", "x-auth-token", "cookie",
)  # fmt: skip
MIN_LITERAL = 6  # shorter header values are redacted only where they follow their header name


def _header_pattern(names: Iterable[str]) -> re.Pattern[str]:
    """``Name: [scheme ]value`` or ``name=value`` for any of ``names``; keeps the scheme."""
    alternatives = "|".join(sorted({re.escape(n.lower()) for n in names}, key=len, reverse=True))
    return re.compile(
        rf"(?i)\b((?:{alternatives})['\"]?\s*[:=]\s*['\"]?)"
        r"((?:basic|bearer|token|digest|apikey|key|hmac[\w-]*)\s+)?[^\s'\",]+"
    )


def parse_auth_headers(values: Iterable[str | Secret]) -> dict[str, str]:
    """Parse repeatable ``--auth-header 'Name: value'`` options (or env lines)."""
    headers: dict[str, str] = {}
    for value in values:
        name, content = split_auth_header(value.reveal() if isinstance(value, Secret) else value)
        headers[name] = content
    return headers


def _url_secrets(url: str | None) -> list[str]:
    """The userinfo and query values of a configured URL: they may be credentials."""
    if not url:
        return []
    parts = urllib.parse.urlsplit(url)
    found = [parts.netloc.rpartition("@")[0]] if "@" in parts.netloc else []
    found += [p for p in (parts.username, parts.password) if p]
    found += [v for _, v in urllib.parse.parse_qsl(parts.query) if len(v) >= MIN_LITERAL]
    return found


class Redactor:
    """Removes every known secret from text before it is shown, logged or reported.

    It knows the private key (also Base64-encoded, as in a Basic header), every auth header
    value, the userinfo and query values of the configured URLs, and the shapes of secrets
    it was not told about: URL userinfo, secret-named query parameters, credential headers
    of any scheme, signatures, tokens, JWTs and ImageKit private keys.
    """

    def __init__(
        self,
        secrets: Iterable[Secret | None] = (),
        *,
        texts: Iterable[str] = (),
        header_names: Iterable[str] = (),
    ) -> None:
        self._literals: list[str] = []
        for secret in secrets:
            if secret is not None and secret.reveal():
                self._literals.append(secret.reveal())
                self._literals.append(basic_auth_header(secret).split(" ", 1)[1])
        for text in texts:
            if len(text) >= MIN_LITERAL:
                self._literals += [text, base64.b64encode(text.encode()).decode("ascii")]
        self._literals.sort(key=len, reverse=True)  # a longer secret before its parts
        self._headers = _header_pattern([*_CREDENTIAL_HEADERS, *header_names])

    @classmethod
    def for_settings(cls, settings: Settings) -> Redactor:
        """A redactor that knows every secret ``settings`` holds."""
        texts: list[str] = []
        names: list[str] = []
        for line in settings.auth_headers:
            name, _, value = line.reveal().partition(":")
            value = value.strip()
            names.append(name.strip())
            texts += [value.split(None, 1)[-1]] if value else []  # without a scheme word
        texts += _url_secrets(settings.base_url) + _url_secrets(settings.auth_endpoint)
        return cls([settings.private_key], texts=texts, header_names=names)

    def __call__(self, text: str) -> str:
        """``text`` with every secret replaced by ``***``."""
        for literal in self._literals:
            text = text.replace(literal, "***")
        text = URL_USERINFO.sub(r"\1***@", text)
        text = QUERY_SECRET.sub(r"\1***", text)
        text = _JWT.sub("***", text)
        text = self._headers.sub(lambda m: m.group(1) + (m.group(2) or "") + "***", text)
        text = _SIGNED_FIELD.sub(r"\1***", text)
        return _KEY_SHAPE.sub(r"\1***", text)
