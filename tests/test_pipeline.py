"""Pipeline features end to end against the fake: ``--url-map`` and ``upload --manifest``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliRecorder, make_file
from tests.fake_imagekit import FakeState

CDN = "https://ik.imagekit.io/fake"


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _fields(fake: FakeState) -> dict[str, dict[str, str]]:
    """Form fields of each stored upload, by the folder + fileName it asked for."""
    return {r.fields["folder"] + r.fields["fileName"]: r.fields for r in fake.uploads_ok()}


# --- --url-map -----------------------------------------------------------------------------


def test_url_map_upload_keys_are_relative_to_each_source(
    fake: FakeState, env: dict[str, str], cli: CliRecorder, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    make_file(tmp_path / "site" / "a.jpg", 100, 1)
    make_file(tmp_path / "site" / "img" / "my photo.png", 100, 2)
    make_file(tmp_path / "site" / "tool.exe", 100, 3)  # skipped: not in the map
    make_file(tmp_path / "assets" / "logo.png", 100, 4)
    result = cli("upload", "site", "assets/logo.png", "https://example.com/x/cat.jpg",
                 "--folder", "/web", "--url-map", "out/urls.json", env=env)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert _json(tmp_path / "out" / "urls.json") == {
        "a.jpg": f"{CDN}/web/a.jpg",
        "img/my photo.png": f"{CDN}/web/img/my_photo.png",
        "assets/logo.png": f"{CDN}/web/logo.png",
        "https://example.com/x/cat.jpg": f"{CDN}/web/cat.jpg",
    }
    # a dry run sends nothing, gets no URL and leaves the map alone
    result = cli("upload", "site", "--dry-run", "--url-map", "out/urls.json", env=env)
    assert result.exit_code == 0
    assert "a.jpg" in _json(tmp_path / "out" / "urls.json")


def test_url_map_sync_includes_unchanged_files(
    fake: FakeState, env: dict[str, str], cli: CliRecorder, tmp_path: Path
) -> None:
    local = tmp_path / "public"
    make_file(local / "a.jpg", 100, 1)
    make_file(local / "css" / "b.png", 100, 2)
    first = tmp_path / "first.json"
    result = cli("sync", str(local), "/site", "--url-map", str(first), env=env)
    assert result.exit_code == 0, result.stderr
    assert _json(first) == {"a.jpg": f"{CDN}/site/a.jpg", "css/b.png": f"{CDN}/site/css/b.png"}

    make_file(local / "css" / "b.png", 150, 3)  # changed
    make_file(local / "new.gif", 100, 4)  # new
    fake.reset_log()
    second = tmp_path / "second.json"
    result = cli("sync", str(local), "/site", "--url-map", str(second), env=env)
    assert result.exit_code == 0, result.stderr
    assert sorted(r.fields["fileName"] for r in fake.uploads_ok()) == ["b.png", "new.gif"]
    # a.jpg was not uploaded again, yet it is in the map, with the URL its upload gave
    assert _json(second) == {
        "a.jpg": f"{CDN}/site/a.jpg",
        "css/b.png": f"{CDN}/site/css/b.png",
        "new.gif": f"{CDN}/site/new.gif",
    }


def test_url_map_after_partial_failure_lists_only_what_made_it(
    fake: FakeState, env: dict[str, str], cli: CliRecorder, tmp_path: Path
) -> None:
    for name in ("a.jpg", "bad.jpg", "c.jpg"):
        make_file(tmp_path / "src" / name, 100)
    out = tmp_path / "maps"
    out.mkdir()
    (out / "urls.json").write_text('{"stale.jpg": "https://old/stale.jpg"}\n')
    fake.faults.fail_names["bad.jpg"] = (400, "Rejected by a test.")
    result = cli("upload", str(tmp_path / "src"), "--url-map", str(out / "urls.json"), env=env)
    assert result.exit_code == 1
    assert _json(out / "urls.json") == {"a.jpg": f"{CDN}/a.jpg", "c.jpg": f"{CDN}/c.jpg"}
    assert [p.name for p in out.iterdir()] == ["urls.json"]  # no temporary file left over


def test_unwritable_url_map_is_refused_before_any_upload(
    fake: FakeState, env: dict[str, str], cli: CliRecorder, tmp_path: Path
) -> None:
    make_file(tmp_path / "src" / "a.jpg", 100)
    (tmp_path / "blocker").write_text("a file, not a folder")
    target = tmp_path / "blocker" / "urls.json"
    result = cli("upload", str(tmp_path / "src"), "--url-map", str(target), env=env)
    assert result.exit_code == 2
    assert f"--url-map {target}: cannot write there" in result.stderr
    assert fake.requests_of("upload") == []


def test_shard_maps_merge_into_the_unsharded_map(
    fake: FakeState, env: dict[str, str], cli: CliRecorder, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    for i in range(12):
        make_file(src / f"d{i % 3}" / f"f{i}.jpg", 50, i)
    maps = []
    for k in (1, 2, 3):
        maps.append(str(tmp_path / f"urls-{k}.json"))
        result = cli("upload", str(src), "--shard", f"{k}/3", "--url-map", maps[-1], env=env)
        assert result.exit_code == 0, result.stderr
    assert all(_json(Path(m)) for m in maps)  # every shard got some files
    merged = tmp_path / "all.json"
    result = cli("report", "merge-url-maps", *maps, "--url-map", str(merged), env=env)
    assert result.exit_code == 0, result.stderr
    expected = {f"d{i % 3}/f{i}.jpg": f"{CDN}/d{i % 3}/f{i}.jpg" for i in range(12)}
    assert _json(merged) == expected
    assert result.stderr.strip() == "12 paths from 3 map(s)."

    stdout = cli("report", "merge-url-maps", *maps, env=env).stdout
    assert json.loads(stdout) == expected

    Path(maps[0]).write_text(json.dumps({"d0/f0.jpg": "https://elsewhere/f0.jpg"}))
    Path(maps[1]).write_text(json.dumps({"d0/f0.jpg": f"{CDN}/d0/f0.jpg"}))
    result = cli("report", "merge-url-maps", maps[0], maps[1], env=env)
    assert result.exit_code == 2
    assert f"URL maps disagree on 'd0/f0.jpg': {maps[0]} has https://elsewhere/f0.jpg" in (
        result.stderr
    )


# --- --manifest ------------------------------------------------------------------------------


def test_manifest_csv_rows_override_the_flags(
    fake: FakeState, env: dict[str, str], cli: CliRecorder, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        make_file(tmp_path / "in" / name, 100)
    (tmp_path / "list.csv").write_text(
        "path,folder,name,tags,custom_metadata,description,private,draft\n"
        'in/a.jpg,/shop/x,renamed.jpg,"t1, t2","{""sku"": 7}",row says,TRUE,yes\n'
        "in/b.jpg,,,,,,,\n"
        "in/c.jpg,,,,,,false,\n",
        encoding="utf-8",
    )
    result = cli("upload", "--manifest", "list.csv", "--folder", "/base", "--tags", "cli",
                 "--description", "flag says", "--private", "--url-map", "urls.json",
                 env=env)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    fields = _fields(fake)
    a = fields["/shop/x/renamed.jpg"]
    assert (a["tags"], a["customMetadata"], a["description"]) == ("t1,t2", '{"sku":7}', "row says")
    assert (a["isPrivateFile"], a["isPublished"]) == ("true", "false")
    b = fields["/base/b.jpg"]
    assert (b["tags"], b["description"], b["isPrivateFile"]) == ("cli", "flag says", "true")
    assert "isPublished" not in b
    assert "customMetadata" not in b
    c = fields["/base/c.jpg"]
    assert "isPrivateFile" not in c
    assert c["tags"] == "cli"
    assert _json(tmp_path / "urls.json") == {
        "in/a.jpg": f"{CDN}/shop/x/renamed.jpg",
        "in/b.jpg": f"{CDN}/base/b.jpg",
        "in/c.jpg": f"{CDN}/base/c.jpg",
    }


def test_manifest_jsonl_rows_with_json_types_and_urls(
    fake: FakeState, env: dict[str, str], cli: CliRecorder, tmp_path: Path
) -> None:
    photo = make_file(tmp_path / "p.png", 100)
    rows = [
        {"path": str(photo), "tags": ["red", "sale"], "custom_metadata": {"sku": "A1"},
         "private": True, "folder": "cat/dogs"},
        {"path": "https://example.com/img/dog.jpg", "name": "hound.jpg", "draft": False,
         "tags": "x,y", "description": None},
    ]  # fmt: skip
    manifest = tmp_path / "rows.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = cli("upload", "--manifest", str(manifest), "--draft", env=env)
    assert result.exit_code == 0, result.stderr
    fields = _fields(fake)
    p = fields["/cat/dogs/p.png"]
    assert (p["tags"], p["customMetadata"], p["isPrivateFile"]) == (
        "red,sale",
        '{"sku":"A1"}',
        "true",
    )
    assert p["isPublished"] == "false"  # --draft, the row says nothing
    dog = fields["/hound.jpg"]
    assert dog["tags"] == "x,y"
    assert "isPublished" not in dog  # the row's draft=false wins over --draft
    blob = fake.file_at("/hound.jpg").current.blob
    assert blob.read_text() == "fetched from https://example.com/img/dog.jpg\n"


def test_bad_manifest_rows_fail_alone_naming_their_row(
    fake: FakeState, env: dict[str, str], cli: CliRecorder, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    make_file(tmp_path / "ok1.jpg", 100, 1)
    make_file(tmp_path / "ok2.jpg", 100, 2)
    (tmp_path / "m.jsonl").write_text(
        '{"path": "ok1.jpg"}\n'
        '{"path": "gone.jpg"}\n'
        '{"path": "ok2.jpg", "tags": "a"\n'
        '\n'
        '{"path": "ok2.jpg", "colour": "red"}\n'
        '{"path": "ok2.jpg", "custom_metadata": "{not json"}\n'
        '{"path": "ok2.jpg", "private": "maybe"}\n'
        '{"path": "ok2.jpg", "folder": "/a/../b"}\n'
        '{"tags": "no path"}\n'
        '{"path": "."}\n'
        '{"path": "ok2.jpg"}\n'
    )  # fmt: skip
    result = cli("upload", "--manifest", "m.jsonl", "--report", "r.json", env=env)
    assert result.exit_code == 1
    assert fake.stored_paths() == {"/ok1.jpg", "/ok2.jpg"}
    # failed rows are recorded in row order, as the plan reaches them
    reasons = [f["reason"] for f in _json(tmp_path / "r.json")["files"] if f["status"] == "failed"]
    assert reasons == [
        "m.jsonl row 2: file 'gone.jpg' does not exist",
        "m.jsonl row 3: not valid JSON: Expecting ',' delimiter at column 32",
        "m.jsonl row 5: unknown column 'colour' (columns: path, folder, name, tags, "
        "custom_metadata, description, private, draft)",
        "m.jsonl row 6: custom_metadata is not valid JSON: Expecting property name enclosed "
        "in double quotes at position 1.",
        "m.jsonl row 7: private must be true or false, not 'maybe'",
        "m.jsonl row 8: folder '/a/../b' contains '..'.",
        "m.jsonl row 9: no path",
        "m.jsonl row 10: '.' is a folder; list its files, or upload it without --manifest",
    ]


def test_bad_csv_rows_and_a_bad_header(
    fake: FakeState, env: dict[str, str], cli: CliRecorder, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    make_file(tmp_path / "ok.jpg", 100)
    (tmp_path / "m.csv").write_text(
        "path,tags,custom_metadata\nmissing.jpg,,\nok.jpg,a,{oops\nok.jpg,a,{},extra\nok.jpg,a,\n"
    )
    result = cli("upload", "--manifest", "m.csv", "--report", "r.json", env=env)
    assert result.exit_code == 1
    assert fake.stored_paths() == {"/ok.jpg"}
    # failed rows are recorded in row order, as the plan reaches them
    reasons = [f["reason"] for f in _json(tmp_path / "r.json")["files"] if f["status"] == "failed"]
    assert reasons == [
        "m.csv row 2: file 'missing.jpg' does not exist",
        "m.csv row 3: custom_metadata is not valid JSON: Expecting property name enclosed in "
        "double quotes at position 1.",
        "m.csv row 4: 4 cells but the header names 3 columns",
    ]

    fake.reset_log()
    (tmp_path / "h.csv").write_text("path,Tags\nok.jpg,a\n")
    result = cli("upload", "--manifest", "h.csv", env=env)
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: --manifest h.csv: unknown column 'Tags' in the header row. Columns: path, "
        "folder, name, tags, custom_metadata, description, private, draft."
    )
    assert fake.requests == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["x.jpg", "--manifest", "m.jsonl"], "Error: Give PATH... or --manifest, not both."),
        (["--manifest", "m.txt"], "Error: --manifest m.txt: unknown format '.txt'."),
        (["--manifest", "m.jsonl", "--name", "n.jpg"], "Error: --name does not go with"),
        (["--manifest", "none.csv"], "Error: --manifest none.csv does not exist or is not a"),
    ],
)
def test_manifest_usage_errors(
    env: dict[str, str], cli: CliRecorder, tmp_path: Path, monkeypatch, args: list[str],
    message: str,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.jsonl").write_text('{"path": "x.jpg"}\n')
    (tmp_path / "m.txt").write_text("x.jpg\n")
    result = cli("upload", *args, env=env)
    assert result.exit_code == 2
    assert result.stderr.startswith(message)
    assert "Traceback" not in result.stderr


def test_manifest_streams_the_first_upload_starts_before_the_end_is_read(
    fake: FakeState, env: dict[str, str], cli: CliRecorder, tmp_path: Path
) -> None:
    # Each row is ~4 kB, so 50 rows are far more than any read-ahead buffer. When the first
    # upload reaches the fake, a row is appended to the manifest: it is uploaded only if
    # the manifest was still being read, i.e. rows stream into the engine.
    manifest = tmp_path / "big.jsonl"
    padding = "x" * 4000
    lines = []
    for i in range(50):
        make_file(tmp_path / "f" / f"{i}.jpg", 20, i)
        row = {"path": str(tmp_path / "f" / f"{i}.jpg"), "description": padding}
        lines.append(json.dumps(row) + "\n")
    manifest.write_text("".join(lines))
    late = make_file(tmp_path / "late.jpg", 20)
    appended: list[int] = []

    def append_once() -> None:
        if not appended:
            with manifest.open("a") as handle:
                handle.write(json.dumps({"path": str(late)}) + "\n")
            appended.append(len(fake.requests_of("upload")))

    fake.on_upload = append_once
    result = cli("upload", "--manifest", str(manifest), "-j", "2", env=env)
    assert result.exit_code == 0, result.stderr
    assert appended == [1]
    assert "/late.jpg" in fake.stored_paths()
    assert len(fake.stored_paths()) == 51


def test_manifest_rows_are_sharded_and_resumable(
    fake: FakeState, env: dict[str, str], cli: CliRecorder, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    rows = []
    for i in range(9):
        make_file(tmp_path / f"{i}.jpg", 30, i)
        rows.append(f"{i}.jpg\n")
    (tmp_path / "m.csv").write_text("path\n" + "".join(rows))
    seen: list[str] = []
    for k in (1, 2, 3):
        result = cli("upload", "--manifest", "m.csv", "--shard", f"{k}/3", "-o", "json", env=env)
        assert result.exit_code == 0, result.stderr
        seen += [f["path"] for f in json.loads(result.stdout)["files"]]
    assert sorted(seen) == sorted(r.strip() for r in rows)  # each row in exactly one shard

    journal = tmp_path / "run.jsonl"
    assert cli("upload", "--manifest", "m.csv", "--report", str(journal), env=env).exit_code == 0
    fake.reset_log()
    result = cli("upload", "--manifest", "m.csv", "--resume", str(journal), env=env)
    assert result.exit_code == 0
    assert fake.requests_of("upload") == []
