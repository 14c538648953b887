"""The fake server itself is faithful to ImageKit's API: checked with raw HTTP, no client."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import PRIVATE_KEY
from tests.fake_imagekit import FakeState

HELP = "For support kindly contact us at support@imagekit.io ."


@pytest.fixture
def http(fake: FakeState) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.base_url, auth=(PRIVATE_KEY, "")) as client:
        yield client


def upload(http: httpx.Client, name: str = "a b.jpg", body: bytes = b"data", **fields: str):
    return http.post("/api/v1/files/upload", data={"fileName": name, **fields},
                     files={"file": ("x", body)})  # fmt: skip


def test_every_response_has_a_request_id(http: httpx.Client) -> None:
    for response in (upload(http), http.get("/v1/files"), http.get("/v1/files/nope/details")):
        assert re.fullmatch(r"[0-9a-f]{16}", response.headers["x-ik-requestId"])


def test_unique_names_get_a_suffix_and_exact_names_version(http: httpx.Client) -> None:
    first = upload(http).json()
    assert re.fullmatch(r"a_b_[\w-]{9}\.jpg", first["name"])
    exact = upload(http, useUniqueFileName="false", folder="/f").json()
    again = upload(http, body=b"other", useUniqueFileName="false", folder="/f").json()
    assert exact["filePath"] == again["filePath"] == "/f/a_b.jpg"
    assert exact["fileId"] == again["fileId"]
    assert exact["versionInfo"] == {"id": exact["fileId"], "name": "Version 1"}
    assert again["versionInfo"]["name"] == "Version 2"
    assert again["versionInfo"]["id"] != exact["fileId"]
    refused = upload(http, useUniqueFileName="false", overwriteFile="false", folder="/f")
    assert refused.status_code == 400
    assert refused.json() == {
        "message": "A file with the same name already exists at the exact location. We could "
        "not overwrite it because both overwriteFile and useUniqueFileName are set to false.",
        "help": HELP,
    }


def test_response_fields_gate_the_response(http: httpx.Client) -> None:
    plain = upload(http, tags="a,b").json()
    assert "tags" not in plain
    assert "isPrivateFile" not in plain
    gated = upload(http, tags="a,b", responseFields="tags,isPrivateFile").json()
    assert gated["tags"] == ["a", "b"]
    assert gated["isPrivateFile"] is False
    assert "customMetadata" not in gated


@pytest.mark.parametrize(
    ("fields", "body", "status", "message"),
    [
        ({}, b"", 400, "Your request contains invalid file parameter. The file is empty."),
        ({"fileName": "big.jpg"}, b"x" * (25 * 1000 * 1000 + 1), 400,
         "Your request contains invalid file parameter. The file size exceeds limits."),
        ({"isPrivateFile": "yes"}, b"x", 400,
         "Your request contains invalid value for isPrivateFile parameter."),
        ({"customMetadata": "[1]"}, b"x", 400,
         "Your request contains invalid customMetadata parameter."),
        ({"surprise": "1"}, b"x", 400, "Your request contains unknown parameter surprise."),
        ({"folder": "/a/../b"}, b"x", 400, "Your request contains invalid folder parameter."),
    ],
)  # fmt: skip
def test_upload_validation(http: httpx.Client, fields, body, status, message) -> None:
    name = fields.pop("fileName", "a.jpg")
    response = upload(http, name, body, **fields)
    assert response.status_code == status
    assert response.json()["message"] == message


def test_missing_credentials_and_wrong_key(fake: FakeState) -> None:
    with httpx.Client(base_url=fake.base_url) as anonymous:
        response = anonymous.get("/v1/files")
        assert (response.status_code, response.json()["message"]) == (
            401, "Your request does not contain private API key.")  # fmt: skip
        response = anonymous.get("/v1/files", auth=("private_wrong", ""))
        assert (response.status_code, response.json()["message"]) == (
            403, "Your account cannot be authenticated.")  # fmt: skip


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"limit": "2000"}, "Maximum value of limit parameter is 1000. Value sent is 2000."),
        ({"limit": "0"}, "Minimum value of limit parameter is 1. Value sent is 0."),
        ({"skip": "-1"}, "The value of skip parameter should be greater than or equal to 0. "
                         "Value sent is -1."),
        ({"sort": "SIDEWAYS"}, "Your request contains invalid value for sort parameters."),
    ],
)  # fmt: skip
def test_list_validation(http: httpx.Client, query, message) -> None:
    response = http.get("/v1/files", params=query)
    assert (response.status_code, response.json()["message"]) == (400, message)


def test_list_is_per_folder_with_files_and_folders(http: httpx.Client) -> None:
    upload(http, "x.jpg", useUniqueFileName="false", folder="/p/q")
    upload(http, "y.jpg", useUniqueFileName="false", folder="/p")
    items = http.get("/v1/files", params={"path": "/p", "type": "all"}).json()
    assert sorted((i["type"], i["name"]) for i in items) == [("file", "y.jpg"), ("folder", "q")]
    [file] = [i for i in items if i["type"] == "file"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", file["updatedAt"])
    assert "?updatedAt=" in file["url"]


def test_bulk_delete_is_all_or_nothing(fake: FakeState, http: httpx.Client) -> None:
    ids = [upload(http, f"{i}.jpg", useUniqueFileName="false").json()["fileId"]
           for i in range(3)]  # fmt: skip
    missing = "0" * 24
    response = http.post("/v1/files/batch/deleteByFileIds", json={"fileIds": [*ids, missing]})
    assert response.status_code == 404
    assert response.json()["missingFileIds"] == [missing]
    assert len(fake.stored_paths()) == 3
    too_many = http.post("/v1/files/batch/deleteByFileIds", json={"fileIds": ids * 40})
    assert too_many.json()["message"] == "fileIds cannot have more than 100 items."
    done = http.post("/v1/files/batch/deleteByFileIds", json={"fileIds": ids})
    assert done.json() == {"successfullyDeletedFileIds": ids}
    assert fake.stored_paths() == set()


def test_media_rate_limit_headers_are_milliseconds(fake: FakeState, http: httpx.Client) -> None:
    fake.faults.media_rate_limit = (2, 1000)
    statuses = [http.get("/v1/files").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    limited = http.get("/v1/files")
    assert limited.headers["X-RateLimit-Limit"] == "2"
    assert limited.headers["X-RateLimit-Interval"] == "1000"
    assert 0 < int(limited.headers["X-RateLimit-Reset"]) <= 1000
    assert upload(http).status_code == 200  # the upload API is not rate-limited


def test_search_query_subset_and_strictness(http: httpx.Client) -> None:
    upload(http, "a.txt", b"12345", folder="/s", useUniqueFileName="false")
    upload(http, "ab.txt", b"123", folder="/s", useUniqueFileName="false")
    upload(http, "a.txt", b"12345", folder="/s")  # a_<suffix>.txt

    def names(query: str) -> list[str]:
        response = http.get("/v1/files", params={"path": "/s/", "searchQuery": query})
        assert response.status_code == 200, response.text
        return sorted(item["name"] for item in response.json())

    assert names('name = "a.txt"') == ["a.txt"]
    assert len(names('name : "a_" AND size = 5')) == 1
    assert names('name : "a" AND size = 3') == ["ab.txt"]
    assert len(names('type = "file" AND createdAt >= "2000-01-01T00:00:00.000Z"')) == 3
    assert names('updatedAt >= "2999-01-01T00:00:00.000Z"') == []
    assert names('name IN ["a.txt", "ab.txt"]') == ["a.txt", "ab.txt"]
    for bad in ('colour = "red"', 'name = "a.txt" OR size = 3', 'size = "big"', "name ="):
        response = http.get("/v1/files", params={"path": "/s/", "searchQuery": bad})
        assert response.status_code == 400, bad


def test_a_lost_answer_comes_after_storing(fake: FakeState, http: httpx.Client) -> None:
    fake.faults.drop_after_store_rate = 1.0
    with pytest.raises(httpx.TransportError):
        upload(http, "kept.txt", useUniqueFileName="false")
    assert fake.stored_paths() == {"/kept.txt"}
