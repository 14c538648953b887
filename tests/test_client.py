"""ImageKitClient against the fake server over real sockets."""

from __future__ import annotations

import asyncio
import hashlib
import json
import tracemalloc
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from imagekit_cli.auth import (
    BasicAuthSigner,
    Credentials,
    JwtSigner,
    SignatureSigner,
    Signer,
    make_jwt,
)
from imagekit_cli.client import ImageKitClient, UploadRequest
from imagekit_cli.config import Secret
from imagekit_cli.errors import AuthenticationError, BadRequestError, LocalFileError
from tests.conftest import PRIVATE_KEY, PUBLIC_KEY, make_file
from tests.fake_imagekit import FakeState

KEY = Secret(PRIVATE_KEY)
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def _upload(fake: FakeState, request: UploadRequest, creds: Credentials, version: int = 1):
    async with ImageKitClient(fake.base_url, private_key=KEY) as client:
        return await client.upload(request, creds, api_version=version)


def _req(path: Path, **fields: str) -> UploadRequest:
    return UploadRequest(
        fields={"fileName": path.name, "useUniqueFileName": "false", **fields},
        path=path,
        size=path.stat().st_size,
    )


@pytest.mark.parametrize("mode", ["private-key", "signature", "jwt"])
def test_upload_with_each_auth_scheme(fake: FakeState, tmp_path: Path, mode: str) -> None:
    path = make_file(tmp_path / "a.jpg", 5000)
    signers: dict[str, Signer] = {
        "private-key": BasicAuthSigner(KEY),
        "signature": SignatureSigner(PUBLIC_KEY, KEY),
        "jwt": JwtSigner(PUBLIC_KEY, KEY),
    }
    signer = signers[mode]
    request = _req(path, folder="/x")

    async def go():
        creds = await signer.sign(request.fields)
        return await _upload(fake, request, creds, signer.api_version)

    response = run(go())
    assert response.body["filePath"] == "/x/a.jpg"
    assert response.request_id
    stored = fake.file_at("/x/a.jpg")
    assert stored.current.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert response.sha256 == stored.current.sha256


def _signed(fields: dict[str, str]) -> Credentials:
    return run(SignatureSigner(PUBLIC_KEY, KEY).sign(fields))


def test_tampered_signature_rejected(fake: FakeState, tmp_path: Path) -> None:
    request = _req(make_file(tmp_path / "a.jpg", 10))
    creds = _signed({})
    bad = Credentials(fields={**creds.fields, "signature": "0" * 40})
    with pytest.raises(BadRequestError) as info:
        run(_upload(fake, request, bad))
    assert info.value.status == 400
    assert info.value.message == "Your request contains invalid signature parameter."


def test_expired_expire_rejected(fake: FakeState, tmp_path: Path) -> None:
    request = _req(make_file(tmp_path / "a.jpg", 10))
    creds = run(SignatureSigner(PUBLIC_KEY, KEY, clock=lambda: 1000.0).sign({}))
    with pytest.raises(BadRequestError) as info:
        run(_upload(fake, request, creds))
    assert info.value.message.startswith("Your request contains invalid expire parameter.")


def test_reused_token_rejected(fake: FakeState, tmp_path: Path) -> None:
    request = _req(make_file(tmp_path / "a.jpg", 10))
    creds = _signed({})
    run(_upload(fake, request, creds))
    with pytest.raises(BadRequestError) as info:
        run(_upload(fake, request, creds))
    assert f"The token with value '{creds.fields['token']}' has been used before" in str(info.value)


def test_jwt_payload_mismatch_rejected(fake: FakeState, tmp_path: Path) -> None:
    request = _req(make_file(tmp_path / "a.jpg", 10), tags="a")
    creds = run(JwtSigner(PUBLIC_KEY, KEY).sign({"fileName": "a.jpg"}))
    with pytest.raises(BadRequestError) as info:
        run(_upload(fake, request, creds, version=2))
    assert info.value.message.startswith("Your request contains invalid payload.")


def test_expired_jwt_rejected(fake: FakeState, tmp_path: Path) -> None:
    request = _req(make_file(tmp_path / "a.jpg", 10))
    token = make_jwt(KEY, PUBLIC_KEY, {**request.fields, "iat": 1000, "exp": 2000})
    with pytest.raises(BadRequestError, match="expired token"):
        run(_upload(fake, request, Credentials(fields={"token": token}), version=2))


def test_basic_plus_signature_rejected(fake: FakeState, tmp_path: Path) -> None:
    request = _req(make_file(tmp_path / "a.jpg", 10))
    basic = run(BasicAuthSigner(KEY).sign({}))
    both = Credentials(headers=basic.headers, fields=_signed({}).fields)
    with pytest.raises(BadRequestError) as info:
        run(_upload(fake, request, both))
    assert info.value.message.startswith("Your request contains both signature and basic auth")


def test_wrong_key_is_authentication_error(fake: FakeState, tmp_path: Path) -> None:
    request = _req(make_file(tmp_path / "a.jpg", 10))
    creds = run(BasicAuthSigner(Secret("private_wrong")).sign({}))
    with pytest.raises(AuthenticationError) as info:
        run(_upload(fake, request, creds))
    assert info.value.status == 403
    assert info.value.message == "Your account cannot be authenticated."
    assert info.value.exit_code == 3


def test_every_field_round_trips(fake: FakeState, tmp_path: Path) -> None:
    fields = {
        "fileName": "a.jpg",
        "useUniqueFileName": "false",
        "tags": "t1,t2",
        "folder": "/f",
        "isPrivateFile": "true",
        "isPublished": "false",
        "customCoordinates": "1,2,3,4",
        "responseFields": "tags,customMetadata",
        "extensions": json.dumps([{"name": "google-auto-tagging", "minConfidence": 80}]),
        "webhookUrl": "https://example.invalid/hook",
        "overwriteFile": "true",
        "overwriteAITags": "false",
        "overwriteTags": "false",
        "overwriteCustomMetadata": "true",
        "customMetadata": json.dumps({"k": 1}),
        "transformation": json.dumps({"pre": "w-100"}),
        "checks": '"file.size" < "1mb"',
        "description": "a description",
    }
    path = make_file(tmp_path / "a.jpg", 100)
    request = UploadRequest(fields=fields, path=path, size=100)
    response = run(_upload(fake, request, run(BasicAuthSigner(KEY).sign({}))))
    assert fake.uploads_ok()[0].fields == fields
    assert response.body["tags"] == ["t1", "t2"]
    assert response.body["customMetadata"] == {"k": 1}
    assert "isPrivateFile" not in response.body


@pytest.mark.slow
def test_listing_pages_beyond_1000_and_bulk_delete(fake: FakeState, tmp_path: Path) -> None:
    data = make_file(tmp_path / "x.txt", 3)
    creds = Credentials(headers={"Authorization": "Basic " + __import__("base64").b64encode(
        f"{PRIVATE_KEY}:".encode()).decode()})  # fmt: skip

    async def go() -> tuple[list[str], list[str], int]:
        async with ImageKitClient(fake.base_url, private_key=KEY, concurrency=16) as client:
            sem = asyncio.Semaphore(16)

            async def one(i: int) -> None:
                async with sem:
                    req = UploadRequest({"fileName": f"f{i}.txt", "useUniqueFileName": "false",
                                         "folder": "/many"}, path=data, size=3)  # fmt: skip
                    await client.upload(req, creds)

            await asyncio.gather(*(one(i) for i in range(1050)))
            listed: list[str] = []
            skip = 0
            while True:
                page = await client.list_page("/many/", skip=skip, file_type="file")
                listed += [item["fileId"] for item in page]
                if len(page) < 1000:
                    break
                skip += len(page)
            first_250 = listed[:250]
            deleted: list[str] = []
            for i in range(0, len(first_250), 100):
                deleted += await client.bulk_delete_batch(first_250[i : i + 100])
            with pytest.raises(ValueError, match="1 to 100"):
                await client.bulk_delete_batch(listed[:101])
            return listed, deleted, len(await client.list_page("/many/", file_type="file"))

    listed, deleted, left = run(go())
    assert len(listed) == len(set(listed)) == 1050
    assert len(fake.requests_of("list")) >= 2
    assert len(deleted) == 250
    assert left == 800
    assert [int(r.fields["count"]) for r in fake.requests_of("bulk_delete")] == [100, 100, 50]


def test_file_changed_since_planning_is_not_sent(fake: FakeState, tmp_path: Path) -> None:
    path = make_file(tmp_path / "a.jpg", 100)
    request = UploadRequest({"fileName": "a.jpg"}, path=path, size=50)
    with pytest.raises(LocalFileError, match="changed since planning"):
        run(_upload(fake, request, run(BasicAuthSigner(KEY).sign({}))))
    assert fake.stored_paths() == set()


@pytest.mark.slow
def test_300mb_upload_streams_with_bounded_memory(fake: FakeState, tmp_path: Path) -> None:
    fake.plan = "enterprise"
    size = 300 * 1024 * 1024
    path = tmp_path / "big.mp4"
    with path.open("wb") as out:
        chunk = bytes(range(256)) * 4096
        for _ in range(size // len(chunk)):
            out.write(chunk)
    local_sha = hashlib.sha256(path.read_bytes()).hexdigest()
    seen: list[int] = []

    async def go():
        creds = await BasicAuthSigner(KEY).sign({})
        async with ImageKitClient(fake.base_url, private_key=KEY) as client:
            req = UploadRequest({"fileName": "big.mp4", "useUniqueFileName": "false"}, path, size)
            return await client.upload(req, creds, on_bytes=seen.append)

    tracemalloc.start()
    try:
        response = run(go())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 1024 * 1024, f"peak traced memory {peak / 1e6:.1f} MB"
    assert sum(seen) == size
    assert response.sha256 == local_sha
    assert fake.file_at("/big.mp4").current.sha256 == local_sha


def test_details_and_delete(fake: FakeState, tmp_path: Path) -> None:
    from imagekit_cli.errors import NotFoundError

    path = make_file(tmp_path / "a.jpg", 10)

    async def go() -> tuple[dict[str, Any], bool]:
        async with ImageKitClient(fake.base_url, private_key=KEY) as client:
            response = await client.upload(_req(path), await BasicAuthSigner(KEY).sign({}))
            file_id = response.body["fileId"]
            details = await client.get_details(file_id)
            await client.delete(file_id)
            try:
                await client.get_details(file_id)
            except NotFoundError as exc:
                return details, exc.message == "The requested file does not exist."
            return details, False

    details, gone = run(go())
    assert details["filePath"] == "/a.jpg"
    assert details["size"] == 10
    assert gone
    assert fake.stored_paths() == set()
