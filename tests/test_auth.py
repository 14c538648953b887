"""Signing: known-answer vectors and redaction."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from imagekit_cli.auth import (
    BasicAuthSigner,
    JwtSigner,
    Redactor,
    SignatureSigner,
    basic_auth_header,
    make_jwt,
    parse_auth_headers,
    v1_signature,
)
from imagekit_cli.config import Secret
from imagekit_cli.errors import UsageError


def test_v1_signature_official_vector() -> None:
    sig = v1_signature(Secret("private_key_test"), "your_token", 1582269249)
    assert sig == "e71bcd6031016b060d349d212e23e85c791decdd"


def test_v2_jwt_worked_example_byte_for_byte() -> None:
    payload = {"fileName": "dress.jpg", "useUniqueFileName": "false", "iat": 1714035985,
               "exp": 1714039585}  # fmt: skip
    token = make_jwt(Secret("private_key_test"), "public_key_test", payload)
    assert token == (
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InB1YmxpY19rZXlfdGVzdCJ9."
        "eyJmaWxlTmFtZSI6ImRyZXNzLmpwZyIsInVzZVVuaXF1ZUZpbGVOYW1lIjoiZmFsc2UiLCJpYXQiOjE3MTQwMzU5"
        "ODUsImV4cCI6MTcxNDAzOTU4NX0."
        "gcKU9oq1YUtLno_nam8igyQXTTu8s2mQ7GYYs8tMbt0"
    )


def test_basic_header_documented_example() -> None:
    assert basic_auth_header(Secret("your_private_api_key")) == "Basic eW91cl9wcml2YXRlX2FwaV9rZXk6"


def test_signature_signer_is_fresh_per_attempt() -> None:
    signer = SignatureSigner("public_x", Secret("private_x"), clock=lambda: 1000.0)
    first = asyncio.run(signer.sign({}))
    second = asyncio.run(signer.sign({}))
    assert first.fields["token"] != second.fields["token"]
    assert first.fields["expire"] == "2800"
    assert first.fields["signature"] == v1_signature(
        Secret("private_x"), first.fields["token"], 2800
    )


def test_jwt_signer_payload_is_exactly_the_fields() -> None:
    signer = JwtSigner("public_x", Secret("private_x"), clock=lambda: 100.0)
    creds = asyncio.run(signer.sign({"fileName": "a.jpg", "tags": "a,b"}))
    payload_b64 = creds.fields["token"].split(".")[1]
    payload = json.loads(base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4)))
    assert payload == {"fileName": "a.jpg", "tags": "a,b", "iat": 100, "exp": 3700}


def test_signers_need_material() -> None:
    with pytest.raises(UsageError):
        SignatureSigner("public_x")
    with pytest.raises(UsageError):
        JwtSigner("public_x")


def test_secret_repr_hides_value() -> None:
    secret = Secret("private_abc")
    assert repr(secret) == "'***'"
    assert str(secret) == "'***'"
    assert "private_abc" not in repr({"k": secret})


def test_redactor_removes_keys_headers_signatures_and_jwts() -> None:
    key = Secret("private_abc123")
    redact = Redactor([key])
    header = asyncio.run(BasicAuthSigner(key).sign({})).headers["Authorization"]
    jwt = make_jwt(key, "public_x", {"a": "b"})
    text = redact(
        f"key private_abc123 auth {header} Authorization: {header} signature=deadbeef "
        f'"token": "abc-123" {jwt}'
    )
    assert "private_abc123" not in text
    assert header.split()[1] not in text
    assert "deadbeef" not in text
    assert "abc-123" not in text
    assert jwt not in text


def test_parse_auth_headers() -> None:
    assert parse_auth_headers(["X-Api: abc", "Authorization: Bearer t"]) == {
        "X-Api": "abc",
        "Authorization": "Bearer t",
    }
    with pytest.raises(UsageError, match="--auth-header"):
        parse_auth_headers(["nocolon"])
