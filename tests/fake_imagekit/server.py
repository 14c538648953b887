"""A real HTTP server faithful to ImageKit's API, on 127.0.0.1, with fault injection.

Its answers follow ImageKit's public API reference (https://imagekit.io/docs/api-reference);
where the reference is silent it takes the strictest reading.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import secrets
import ssl
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web

from tests.fake_imagekit.search import Predicate, SearchError, parse
from tests.fake_imagekit.state import (
    MAX_FOLDER_DEPTH,
    MAX_VERSIONS,
    FakeState,
    RequestRecord,
    StoredFile,
    Version,
    iso_now,
    new_id,
    sanitise_folder_segment,
    sanitise_name,
)

HELP = "For support kindly contact us at support@imagekit.io ."
BOOL_FIELDS = {
    "useUniqueFileName", "isPrivateFile", "isPublished", "overwriteFile", "overwriteAITags",
    "overwriteTags", "overwriteCustomMetadata",
}  # fmt: skip
TEXT_FIELDS = {
    "fileName", "tags", "folder", "customCoordinates", "responseFields", "extensions",
    "webhookUrl", "customMetadata", "transformation", "checks", "description",
}  # fmt: skip
V1_AUTH_FIELDS = {"publicKey", "signature", "expire", "token"}
RESPONSE_FIELDS = {
    "tags", "customCoordinates", "isPrivateFile", "embeddedMetadata", "isPublished",
    "customMetadata", "metadata", "selectedFieldsSchema",
}  # fmt: skip
MSG_BOTH_SIG = (
    "Your request contains both signature and basic auth parameter. Use only one method, "
    "you might be exposing your private API key."
)
MSG_BOTH_TOKEN = (
    "Your request contains both token and basic auth parameter. Use only one method, "
    "you might be exposing your private API key."
)
MSG_EXPIRE = (
    "Your request contains invalid expire parameter. Expire parameter should be a Unix time "
    "in less than 1 hour into the future."
)
MSG_DUPLICATE = (
    "A file with the same name already exists at the exact location. We could not overwrite "
    "it because both overwriteFile and useUniqueFileName are set to false."
)
MSG_TOO_BIG = "Your request contains invalid file parameter. The file size exceeds limits."
MSG_PAYLOAD = (
    "Your request contains invalid payload. It does not match with the payload used to "
    "generate token."
)


RECORD = web.RequestKey("record", RequestRecord)


class Reject(Exception):
    """An error answer: status, message and extra headers or body keys."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def _kind(request: web.Request) -> str:
    path = request.path
    if path.endswith("/files/upload"):
        return "upload"
    if path == "/v1/files" and request.method == "GET":
        return "list"
    if path.endswith("/details"):
        return "details"
    if path.endswith("deleteByFileIds"):
        return "bulk_delete"
    if path.startswith("/v1/files/") and request.method == "DELETE":
        return "delete"
    if path == "/v1/folder":
        return "folder"
    return "other"


def token_reused(token: str) -> Reject:
    return Reject(
        400,
        f"The token with value '{token}' has been used before. We suggest using V4 UUIDs, "
        "or another random string with enough entropy to avoid collisions.",
    )


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class FakeImageKit:
    """The aiohttp application around a FakeState."""

    def __init__(self, state: FakeState) -> None:
        self.state = state
        self.app = web.Application(middlewares=[self.middleware], client_max_size=1 << 40)
        self.app.router.add_post("/api/v1/files/upload", self.upload_v1)
        self.app.router.add_post("/api/v2/files/upload", self.upload_v2)
        self.app.router.add_get("/v1/files", self.list_files)
        self.app.router.add_get("/v1/files/{file_id}/details", self.details)
        self.app.router.add_get("/v1/files/{file_id}/versions", self.versions)
        self.app.router.add_delete("/v1/files/{file_id}", self.delete_file)
        self.app.router.add_post("/v1/files/batch/deleteByFileIds", self.bulk_delete)
        self.app.router.add_post("/v1/folder", self.create_folder)
        self.app.router.add_delete("/v1/folder", self.delete_folder)
        self.app.router.add_get("/_fake/summary", self.summary)

    # --- middleware: request id, in-flight count, log, latency, faults, rate limits --------
    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        state = self.state
        if request.path.startswith("/_fake/"):
            return await handler(request)
        kind = _kind(request)
        record = RequestRecord(request.method, request.path, kind, query=dict(request.query))
        peer = request.transport.get_extra_info("peername") if request.transport else None
        record.peer = peer[1] if peer else 0
        request[RECORD] = record
        with state.lock:
            state.requests.append(record)
            state.in_flight += 1
            state.peak_in_flight = max(state.peak_in_flight, state.in_flight)
        headers = {"x-ik-requestId": secrets.token_hex(8)}
        record.request_id = headers["x-ik-requestId"]
        try:
            response = await self._answer(request, handler, kind, headers)
        finally:
            with state.lock:
                state.in_flight -= 1
                record.finished = time.monotonic()
        record.status = response.status
        response.headers.update(headers)
        return response

    async def _answer(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
        kind: str,
        headers: dict[str, str],
    ) -> web.StreamResponse:
        faults = self.state.faults
        delay = (
            faults.upload_latency
            if kind == "upload" and faults.upload_latency is not None
            else faults.latency
        )
        if self.state.chance(faults.spike_rate):
            delay += faults.spike_seconds
        # Latency is a deadline: the answer leaves `delay` after the request arrived, so the
        # fake's own processing time is not added on top of the latency a test asked for.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        response = await self._respond(request, handler, kind, headers)
        if (remaining := deadline - loop.time()) > 0:
            await asyncio.sleep(remaining)
        return response

    async def _respond(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
        kind: str,
        headers: dict[str, str],
    ) -> web.StreamResponse:
        faults = self.state.faults
        if kind == "upload" and faults.redirect_uploads_to:
            return web.Response(status=307, headers={"Location": faults.redirect_uploads_to})
        scripted = self.state.next_scripted(kind) or self.state.next_scripted("any")
        if scripted is not None:
            status, extra = scripted
            await request.read()
            headers.update(extra)
            return _error(status, f"Injected fault {status}.")
        now = time.monotonic()
        if faults.storm_until > now:
            await request.read()
            headers["X-RateLimit-Reset"] = str(max(1, int((faults.storm_until - now) * 1000)))
            return _error(429, "Too many requests")
        if kind != "upload" or faults.upload_rate_limit:
            bucket = "upload" if kind == "upload" else "media"
            limit = faults.upload_rate_limit if kind == "upload" else faults.media_rate_limit
            allowed, rate_headers = self.state.rate_check(bucket, limit)
            headers.update(rate_headers)
            if not allowed:
                await request.read()
                return _error(429, "Too many requests")
        if kind == "upload" and self.state.chance(faults.error_rate):
            await request.read()
            return _error(faults.error_status, "Injected server error.")
        if kind == "upload" and self.state.chance(faults.stall_rate):
            await asyncio.sleep(faults.stall_seconds)
        try:
            return await handler(request)
        except Reject as exc:
            for key, value in exc.extra.items():
                if key == "headers":
                    headers.update(value)
            body = {k: v for k, v in exc.extra.items() if k != "headers"}
            return _error(exc.status, exc.message, **body)

    # --- authentication ---------------------------------------------------------------
    def _basic_key(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization")
        if header is None:
            return None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            raise Reject(401, "Your request does not contain private API key.")
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = value  # the OAS also lists the un-encoded key as accepted
        key = decoded.partition(":")[0]
        if key != self.state.private_key:
            raise Reject(403, "Your account cannot be authenticated.")
        return key

    def _require_media_auth(self, request: web.Request) -> None:
        if self._basic_key(request) is None:
            raise Reject(401, "Your request does not contain private API key.")

    def _use_token(self, token: str) -> None:
        with self.state.lock:
            self.state.secrets_seen.add(token)
            if token in self.state.used_tokens:
                raise token_reused(token)
            self.state.used_tokens.add(token)

    def _check_v1_signature(self, fields: dict[str, str]) -> None:
        missing = [f for f in ("publicKey", "signature", "expire", "token") if not fields.get(f)]
        if missing:
            raise Reject(400, f"Your request is missing {missing[0]} parameter.")
        token = fields["token"]
        with self.state.lock:
            self.state.secrets_seen.add(fields["signature"])
        self._use_token(token)
        if fields["publicKey"] != self.state.public_key:
            raise Reject(403, "Your account cannot be authenticated.")
        try:
            expire = int(fields["expire"])
        except ValueError:
            raise Reject(400, MSG_EXPIRE) from None
        now = time.time()
        if not now < expire < now + 3600:
            raise Reject(400, MSG_EXPIRE)
        expected = hmac.new(
            self.state.private_key.encode(), f"{token}{expire}".encode(), hashlib.sha1
        ).hexdigest()
        if not hmac.compare_digest(expected, fields["signature"]):
            raise Reject(400, "Your request contains invalid signature parameter.")

    def _check_jwt(self, fields: dict[str, str]) -> None:
        token = fields.get("token")
        if not token:
            raise Reject(400, "Your request is missing token parameter.")
        self._use_token(token)
        parts = token.split(".")
        if len(parts) != 3:
            raise Reject(400, "Your request has invalid token.")
        try:
            header = json.loads(_b64url_decode(parts[0]))
            payload = json.loads(_b64url_decode(parts[1]))
            signature = _b64url_decode(parts[2])
        except (ValueError, binascii.Error):
            raise Reject(400, "Your request has invalid token.") from None
        expected = hmac.new(
            self.state.private_key.encode(), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256
        ).digest()
        valid_header = header.get("alg") == "HS256" and header.get("kid") == self.state.public_key
        if not valid_header or not hmac.compare_digest(expected, signature):
            raise Reject(400, "Your request has invalid token.")
        iat, exp = payload.pop("iat", None), payload.pop("exp", None)
        if not isinstance(iat, int) or not isinstance(exp, int) or exp - iat > 3600:
            raise Reject(400, "Your request has invalid token.")
        if exp <= time.time():
            raise Reject(400, "Your request contains expired token.")
        sent = {k: v for k, v in fields.items() if k != "token"}
        if payload != sent:
            raise Reject(400, MSG_PAYLOAD)

    # --- upload -----------------------------------------------------------------------
    async def upload_v1(self, request: web.Request) -> web.StreamResponse:
        return await self._upload(request, version=1)

    async def upload_v2(self, request: web.Request) -> web.StreamResponse:
        return await self._upload(request, version=2)

    async def _read_form(
        self, request: web.Request
    ) -> tuple[dict[str, str], Path | None, int, str, bool]:
        """Stream the multipart body: text fields, and the file part to disk with sha256."""
        fields: dict[str, str] = {}
        blob: Path | None = None
        size, digest, has_file_part = 0, hashlib.sha256(), False
        drop = self.state.chance(self.state.faults.drop_rate)
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            assert isinstance(part, BodyPartReader)
            if part.name == "file" and part.filename is not None:
                has_file_part = True
                fd, name = tempfile.mkstemp(dir=self.state.storage)
                blob = Path(name)
                with open(fd, "wb") as out:
                    while chunk := await part.read_chunk(1 << 20):
                        if drop:  # part of the body arrived; hang up before storing it
                            assert request.transport is not None
                            request.transport.abort()
                            raise asyncio.CancelledError
                        size += len(chunk)
                        digest.update(chunk)
                        out.write(chunk)
            else:
                if part.name is None:
                    raise Reject(400, "Your request contains a part without a name.")
                fields[part.name] = (await part.read()).decode("utf-8")
        return fields, blob, size, digest.hexdigest(), has_file_part

    async def _upload(self, request: web.Request, version: int) -> web.StreamResponse:
        if self.state.on_upload is not None:
            self.state.on_upload()
        fields, blob, size, sha, has_file_part = await self._read_form(request)
        if self.state.faults.processing_latency:
            await asyncio.sleep(self.state.faults.processing_latency)
        try:
            answer = self._store_upload(request, version, fields, blob, size, sha, has_file_part)
            if self.state.chance(self.state.faults.slow_answer_rate):  # stored; answer late
                await asyncio.sleep(self.state.faults.slow_answer_seconds)
            return answer
        except Reject:
            if blob is not None:
                blob.unlink(missing_ok=True)
            raise
        finally:
            record: RequestRecord = request[RECORD]
            record.fields = {k: v for k, v in fields.items() if k not in V1_AUTH_FIELDS}

    def _store_upload(
        self,
        request: web.Request,
        version: int,
        fields: dict[str, str],
        blob: Path | None,
        size: int,
        sha: str,
        has_file_part: bool,
    ) -> web.StreamResponse:
        state = self.state
        basic = self._basic_key(request)
        if basic is not None:
            if version == 1 and "signature" in fields:
                raise Reject(400, MSG_BOTH_SIG)
            if version == 2 and "token" in fields:
                raise Reject(400, MSG_BOTH_TOKEN)
        elif version == 1:
            self._check_v1_signature(fields)
        else:
            self._check_jwt(fields)
        allowed = BOOL_FIELDS | TEXT_FIELDS | {"file"}
        allowed |= V1_AUTH_FIELDS if version == 1 else {"token"}
        for name in fields:
            if name not in allowed:
                raise Reject(400, f"Your request contains unknown parameter {name}.")
        for name in BOOL_FIELDS & fields.keys():
            if fields[name] not in ("true", "false"):
                raise Reject(400, f"Your request contains invalid value for {name} parameter.")
        for name, kind in (
            ("customMetadata", dict),
            ("transformation", dict),
            ("extensions", list),
        ):
            if name in fields:
                try:
                    ok = isinstance(json.loads(fields[name]), kind)
                except ValueError:
                    ok = False
                if not ok:
                    raise Reject(400, f"Your request contains invalid {name} parameter.")
        if "responseFields" in fields:
            for item in fields["responseFields"].split(","):
                if item not in RESPONSE_FIELDS:
                    raise Reject(400, "Your request contains invalid responseFields parameter.")
        tags = fields.get("tags")
        if tags is not None and (len(tags.replace(",", "")) > 500 or "%" in tags):
            raise Reject(400, "Your request contains invalid tags parameter.")
        if not has_file_part:
            file_text = fields.pop("file", None)
            if file_text is None:
                raise Reject(400, "Your request is missing file parameter.")
            content = self._decode_text_file(file_text)
            fd, name = tempfile.mkstemp(dir=state.storage)
            blob = Path(name)
            with open(fd, "wb") as out:
                out.write(content)
            size, sha = len(content), hashlib.sha256(content).hexdigest()
        assert blob is not None
        raw_name = fields.get("fileName")
        if not raw_name:
            raise Reject(400, "Your request is missing fileName parameter.")
        if size == 0:
            raise Reject(400, "Your request contains invalid file parameter. The file is empty.")
        limit = state.size_limit(raw_name)
        if limit is not None and size > limit:
            raise Reject(400, MSG_TOO_BIG)
        fail = state.faults.fail_names.get(raw_name)
        if fail is not None:
            raise Reject(fail[0], fail[1])
        folder = self._normalise_folder(fields.get("folder", "/"))
        name = state.faults.store_as.get(raw_name) or sanitise_name(raw_name)
        unique = fields.get("useUniqueFileName", "true") == "true"
        overwrite = fields.get("overwriteFile", "true") == "true"
        with state.lock:
            if unique:
                stem, dot, ext = name.rpartition(".")
                while True:
                    suffix = secrets.token_urlsafe(7)[:9]
                    candidate = f"{stem}_{suffix}.{ext}" if dot and stem else f"{name}_{suffix}"
                    if folder + candidate not in state.by_path:
                        name = candidate
                        break
            existing_id = state.by_path.get(folder + name)
            if existing_id is not None and not overwrite:
                raise Reject(400, MSG_DUPLICATE)
            now = iso_now()
            if existing_id is None:
                stored = StoredFile(new_id(), folder, name, now)
                state.files[stored.file_id] = stored
                state.by_path[stored.file_path] = stored.file_id
                self._ensure_folders(folder)
            else:
                stored = state.files[existing_id]
                if len(stored.versions) >= MAX_VERSIONS:
                    raise Reject(400, "This file has reached the maximum number of versions.")
            stored.apply_upload(fields, replacing=existing_id is not None)
            number = len(stored.versions) + 1
            version_id = stored.file_id if number == 1 else new_id()
            clean = {k: v for k, v in fields.items() if k not in V1_AUTH_FIELDS | {"token"}}
            stored.versions.append(
                Version(version_id, number, size, sha, blob, clean, now, time.time())
            )
        request[RECORD].file_path = stored.file_path
        if state.chance(state.faults.drop_after_store_rate):
            assert request.transport is not None
            request.transport.abort()
            raise asyncio.CancelledError
        return web.json_response(self._upload_json(stored, fields))

    def _decode_text_file(self, text: str) -> bytes:
        if text.startswith(("http://", "https://")):
            return f"fetched from {text}\n".encode()  # the fake never fetches anything
        data = text.partition("base64,")[2] if text.startswith("data:") else text
        try:
            return base64.b64decode(data, validate=True)
        except binascii.Error:
            raise Reject(400, "Your request contains invalid file parameter.") from None

    def _normalise_folder(self, folder: str) -> str:
        segments = [s for s in folder.split("/") if s]
        if any(s in (".", "..") for s in segments):
            raise Reject(400, "Your request contains invalid folder parameter.")
        if len(segments) > MAX_FOLDER_DEPTH:
            raise Reject(400, "Your request contains a folder nested deeper than 50 levels.")
        clean = [sanitise_folder_segment(s) for s in segments]
        return "/" + "".join(f"{s}/" for s in clean)

    def _ensure_folders(self, folder: str) -> None:
        parts = [p for p in folder.split("/") if p]
        for i in range(1, len(parts) + 1):
            path = "/" + "/".join(parts[:i]) + "/"
            self.state.folders.setdefault(path, iso_now())

    def _upload_json(self, stored: StoredFile, fields: dict[str, str]) -> dict[str, Any]:
        v = stored.current
        body: dict[str, Any] = {
            "fileId": stored.file_id,
            "name": stored.name,
            "size": v.size,
            "versionInfo": {"id": v.version_id, "name": f"Version {v.number}"},
            "filePath": stored.file_path,
            "url": f"{self.state.url_endpoint}{stored.file_path}",
            "fileType": "non-image",
            "AITags": stored.ai_tags,
        }
        wanted = set(fields.get("responseFields", "").split(",")) - {""}
        gated: dict[str, Any] = {
            "tags": stored.tags,
            "customCoordinates": fields.get("customCoordinates"),
            "isPrivateFile": fields.get("isPrivateFile") == "true",
            "isPublished": fields.get("isPublished", "true") == "true",
            "customMetadata": stored.custom_metadata,
            "embeddedMetadata": {},
            "metadata": {"size": v.size},
            "selectedFieldsSchema": {},
        }
        body.update({k: gated[k] for k in wanted})
        if fields.get("description"):
            body["description"] = fields["description"]
        if fields.get("extensions"):
            names = [e.get("name") for e in json.loads(fields["extensions"]) if isinstance(e, dict)]
            body["extensionStatus"] = {str(n): "success" for n in names}
        return body

    # --- media API --------------------------------------------------------------------
    async def list_files(self, request: web.Request) -> web.StreamResponse:
        self._require_media_auth(request)
        query = request.query
        try:
            limit = int(query.get("limit", "1000"))
            skip = int(query.get("skip", "0"))
        except ValueError:
            raise Reject(400, "Your request contains invalid value for limit/skip.") from None
        if limit > 1000:
            raise Reject(400, f"Maximum value of limit parameter is 1000. Value sent is {limit}.")
        if limit < 1:
            raise Reject(400, f"Minimum value of limit parameter is 1. Value sent is {limit}.")
        if skip < 0:
            raise Reject(
                400,
                f"The value of skip parameter should be greater than or equal to 0. "
                f"Value sent is {skip}.",
            )
        if query.get("sort", "ASC_CREATED") not in ("ASC_CREATED", "DESC_CREATED", "ASC_NAME"):
            raise Reject(400, "Your request contains invalid value for sort parameters.")
        kind = query.get("type", "file")
        search: Predicate | None = None
        if "searchQuery" in query:
            try:
                search, typed = parse(query["searchQuery"])
            except (SearchError, ValueError, TypeError):
                raise Reject(400, "Your request contains invalid syntax for the searchQuery "
                             "parameter.") from None  # fmt: skip
            kind = "any" if typed else "file"
        path = query.get("path")
        folder = None if path is None else ("/" + "".join(f"{s}/" for s in path.split("/") if s))
        items: list[dict[str, Any]] = []
        with self.state.lock:
            if kind in ("folder", "all", "any"):
                for fpath, created in self.state.folders.items():
                    if fpath == "/":
                        continue
                    parent = fpath[: fpath.rstrip("/").rfind("/") + 1]
                    if folder is None or parent == folder:
                        name = fpath.rstrip("/").rsplit("/", 1)[-1]
                        items.append({
                            "type": "folder", "folderId": fpath, "name": name,
                            "folderPath": fpath.rstrip("/"), "customMetadata": {},
                            "createdAt": created, "updatedAt": created,
                        })  # fmt: skip
            for stored in self.state.files.values():
                if folder is not None and stored.folder != folder:
                    continue
                if kind in ("file", "all", "any"):
                    items.append(self.state.file_json(stored))
                if kind in ("file-version", "any"):
                    items.extend(self.state.file_json(stored, v) for v in stored.versions)
        if search is not None:
            items = [i for i in items if search(i)]
        if query.get("sort") == "ASC_NAME":
            items.sort(key=lambda i: str(i["name"]))
        elif query.get("sort") == "DESC_CREATED":
            items.reverse()
        return web.json_response(items[skip : skip + limit])

    def _get_file(self, file_id: str) -> StoredFile:
        if len(file_id) != 24 or any(c not in "0123456789abcdef" for c in file_id):
            raise Reject(400, "Your request contains invalid fileId parameter.")
        with self.state.lock:
            stored = self.state.files.get(file_id)
        if stored is None:
            raise Reject(404, "The requested file does not exist.")
        return stored

    async def details(self, request: web.Request) -> web.StreamResponse:
        self._require_media_auth(request)
        return web.json_response(
            self.state.file_json(self._get_file(request.match_info["file_id"]))
        )

    async def versions(self, request: web.Request) -> web.StreamResponse:
        self._require_media_auth(request)
        stored = self._get_file(request.match_info["file_id"])
        return web.json_response([self.state.file_json(stored, v) for v in stored.versions])

    def _remove(self, stored: StoredFile) -> None:
        self.state.files.pop(stored.file_id, None)
        self.state.by_path.pop(stored.file_path, None)
        for v in stored.versions:
            v.blob.unlink(missing_ok=True)

    async def delete_file(self, request: web.Request) -> web.StreamResponse:
        self._require_media_auth(request)
        stored = self._get_file(request.match_info["file_id"])
        with self.state.lock:
            self._remove(stored)
        return web.Response(status=204)

    async def bulk_delete(self, request: web.Request) -> web.StreamResponse:
        self._require_media_auth(request)
        try:
            body = await request.json()
        except ValueError:
            raise Reject(400, "fileIds parameter is missing.") from None
        if not isinstance(body, dict) or "fileIds" not in body:
            raise Reject(400, "fileIds parameter is missing.")
        ids = body["fileIds"]
        if not isinstance(ids, list):
            raise Reject(400, "fileIds should be an Array.")
        if not ids:
            raise Reject(400, "fileIds is empty.")
        if len(ids) > 100:
            raise Reject(400, "fileIds cannot have more than 100 items.")
        request[RECORD].fields = {"count": str(len(ids))}
        with self.state.lock:
            missing = [i for i in ids if i not in self.state.files]
            if missing:
                raise Reject(404, "The requested file(s) does not exist.", missingFileIds=missing)
            for file_id in ids:
                self._remove(self.state.files[file_id])
        return web.json_response({"successfullyDeletedFileIds": ids})

    async def create_folder(self, request: web.Request) -> web.StreamResponse:
        self._require_media_auth(request)
        body = await request.json()
        name = "".join(c if c.isalnum() else "_" for c in str(body.get("folderName", "")))
        parent = self._normalise_folder(str(body.get("parentFolderPath", "/")))
        with self.state.lock:
            self._ensure_folders(parent + name + "/")
        return web.json_response({}, status=201)

    async def delete_folder(self, request: web.Request) -> web.StreamResponse:
        self._require_media_auth(request)
        body = await request.json()
        folder = self._normalise_folder(str(body.get("folderPath", "")))
        with self.state.lock:
            if folder not in self.state.folders or folder == "/":
                raise Reject(404, "No folder found with folderPath.", reason="FOLDER_NOT_FOUND")
            for stored in [f for f in self.state.files.values() if f.folder.startswith(folder)]:
                self._remove(stored)
            for path in [p for p in self.state.folders if p.startswith(folder)]:
                del self.state.folders[path]
        return web.Response(status=204)

    async def summary(self, request: web.Request) -> web.StreamResponse:
        """Not part of ImageKit: lets an out-of-process benchmark check the fake's state."""
        with self.state.lock:
            files = {
                f.file_path: {"size": f.current.size, "sha256": f.current.sha256,
                              "versions": len(f.versions)}
                for f in self.state.files.values()
            }  # fmt: skip
            kinds: dict[str, int] = {}
            statuses: dict[int, int] = {}
            for r in self.state.requests:
                kinds[r.kind] = kinds.get(r.kind, 0) + 1
                statuses[r.status] = statuses.get(r.status, 0) + 1
            # Seconds from a stored upload's headers arriving to its answer: the transfer time
            # the benchmark compares with curl's, without either client's start-up.
            upload_s = {r.file_path: r.finished - r.started for r in self.state.requests
                        if r.kind == "upload" and r.status == 200 and r.file_path}  # fmt: skip
            body = {"files": files, "requests": kinds, "statuses": statuses, "upload_s": upload_s,
                    "peak_in_flight": self.state.peak_in_flight}  # fmt: skip
        if request.query.get("reset") == "1":
            self.state.reset_log()
        return web.json_response(body)


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"message": message, "help": HELP, **extra}, status=status)


class AppThread:
    """Serves an aiohttp application on 127.0.0.1 from a background thread."""

    def __init__(
        self, app: web.Application, port: int = 0, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.app = app
        self._port = port
        self._ssl_context = ssl_context
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def start(self) -> AppThread:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    async def _start(self) -> None:
        # A short shutdown: handlers still inside an injected stall are cancelled, not awaited.
        self._runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, shutdown_timeout=0.1
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port, ssl_context=self._ssl_context)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        scheme = "http" if self._ssl_context is None else "https"
        self.base_url = f"{scheme}://127.0.0.1:{port}"

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


class FakeServer(AppThread):
    """Runs a FakeImageKit on 127.0.0.1 in a background thread with its own event loop."""

    def __init__(
        self, state: FakeState, port: int = 0, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        super().__init__(FakeImageKit(state).app, port, ssl_context)
        self.state = state

    def start(self) -> FakeServer:
        super().start()
        self.state.base_url = self.base_url
        return self
