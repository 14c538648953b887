"""Issue #10, items 2, 3 and 9: the plan never overwrites, never leaks, and never hides a
loss; our own outputs are checked before any upload. End to end against the fake."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from imagekit_cli.planning import LISTED_LINK
from tests.conftest import CliRecorder, make_file

COLLIDES = (
    "collides with {first}: both would be stored at {remote}; "
    "rename one, or send them to different folders"
)


def _records(stdout: str) -> dict[str, dict[str, object]]:
    return {str(f["path"]): f for f in json.loads(stdout)["files"]}


# --- 2. collisions -------------------------------------------------------------------


def test_two_sources_on_one_remote_path_later_fails_naming_first(fake, env, cli, tmp_path):
    make_file(tmp_path / "s1" / "same.jpg", 100, 1)
    make_file(tmp_path / "s2" / "same.jpg", 200, 2)
    make_file(tmp_path / "s2" / "other.jpg", 50, 3)
    s1, s2 = str(tmp_path / "s1"), str(tmp_path / "s2")
    result = cli("upload", s1, s2, "--folder", "/c", "-o", "json", env=env)
    assert result.exit_code == 1
    files = _records(result.stdout)
    assert files[f"{s1}/same.jpg"]["status"] == "uploaded"
    assert files[f"{s2}/same.jpg"]["status"] == "failed"
    assert files[f"{s2}/same.jpg"]["reason"] == COLLIDES.format(
        first=f"{s1}/same.jpg", remote="/c/same.jpg"
    )
    assert fake.stored_paths() == {"/c/same.jpg", "/c/other.jpg"}
    stored = fake.file_at("/c/same.jpg")
    assert len(stored.versions) == 1
    assert stored.current.size == 100


def test_flattened_stdin_list_collides_across_folders(fake, env, cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for i, folder in enumerate(("a", "b", "c")):
        make_file(tmp_path / folder / "logo.png", 10 + i, i)
    listing = "a/logo.png\nb/logo.png\nc/logo.png\n"
    result = cli("upload", "-", "--folder", "/flat", "-o", "json", env=env, input=listing)
    assert result.exit_code == 1
    files = _records(result.stdout)
    assert files["a/logo.png"]["status"] == "uploaded"
    for later in ("b/logo.png", "c/logo.png"):
        assert files[later]["reason"] == COLLIDES.format(
            first="a/logo.png", remote="/flat/logo.png"
        )
    assert len(fake.file_at("/flat/logo.png").versions) == 1


def test_sync_collision_across_folders_fails_each_run(fake, env, cli, tmp_path):
    local = tmp_path / "site"
    make_file(local / "v 1" / "x.txt", 10, 1)  # the space is stored as "_": /s/v_1/x.txt
    make_file(local / "v_1" / "x.txt", 20, 2)
    for _ in range(2):
        result = cli("sync", str(local), "/s", "-o", "json", env=env)
        assert result.exit_code == 1, result.stderr
        failed = _records(result.stdout)[f"{local}/v_1/x.txt"]
        assert failed["status"] == "failed"
        assert failed["reason"] == COLLIDES.format(
            first=f"{local}/v 1/x.txt", remote="/s/v_1/x.txt"
        )
    assert fake.stored_paths() == {"/s/v_1/x.txt"}
    assert len(fake.file_at("/s/v_1/x.txt").versions) == 1


def test_same_file_named_twice_is_sent_once(fake, env, cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_file(tmp_path / "d" / "a.jpg", 10)
    result = cli("upload", "d", "d/a.jpg", "-o", "json", env=env)
    assert result.exit_code == 0, result.stderr
    files = json.loads(result.stdout)["files"]
    assert sorted((f["status"], f["reason"]) for f in files) == [
        ("skipped", "listed twice (already planned for /a.jpg)"),
        ("uploaded", None),
    ]
    assert len(fake.file_at("/a.jpg").versions) == 1


# --- 3. symlinks ---------------------------------------------------------------------


def _linked_tree(tmp_path: Path) -> Path:
    secret = make_file(tmp_path / "home" / ".ssh" / "id_rsa.jpg", 64, 7)
    tree = tmp_path / "tree"
    make_file(tree / "ok.jpg", 10, 1)
    (tree / "leak.jpg").symlink_to(secret)
    (tree / "alias.jpg").symlink_to(tree / "ok.jpg")  # inside the tree
    (tree / "keys").symlink_to(secret.parent, target_is_directory=True)
    (tree / "sub").mkdir()
    (tree / "sub" / "up").symlink_to(tree, target_is_directory=True)
    return tree


def test_symlinked_files_are_skipped_by_default(fake, env, cli, tmp_path):
    tree = _linked_tree(tmp_path)
    result = cli("upload", str(tree), "--folder", "/t", "-o", "json", env=env)
    assert result.exit_code == 0, result.stderr
    reasons = {p[len(str(tree)) + 1 :]: f["reason"] for p, f in _records(result.stdout).items()}
    assert reasons == {
        "ok.jpg": None,
        "leak.jpg": "symlinked file (use --follow-symlinks)",
        "alias.jpg": "symlinked file (use --follow-symlinks)",
        "keys/": "symlinked folder (use --follow-symlinks)",
        "sub/up/": "symlinked folder (use --follow-symlinks)",
    }
    assert fake.stored_paths() == {"/t/ok.jpg"}


@pytest.mark.parametrize("command", ["upload", "sync"])
def test_follow_symlinks_never_leaves_the_tree(fake, env, cli, tmp_path, command):
    tree = _linked_tree(tmp_path)
    args = [str(tree), "/t"] if command == "sync" else [str(tree), "--folder", "/t"]
    result = cli(command, *args, "--follow-symlinks", "-o", "json", env=env)
    assert result.exit_code == 0, result.stderr
    reasons = {p[len(str(tree)) + 1 :]: f["reason"] for p, f in _records(result.stdout).items()}
    assert reasons["leak.jpg"] == f"points outside {tree}"
    assert reasons["keys/"] == f"points outside {tree}"
    assert reasons["sub/up/"] == "symlink loop"
    assert fake.stored_paths() == {"/t/ok.jpg", "/t/alias.jpg"}
    assert all(".ssh" not in p and "id_rsa" not in p for p in fake.stored_paths())


def test_a_named_source_folder_that_is_a_link_is_walked(fake, env, cli, tmp_path):
    make_file(tmp_path / "build" / "out" / "a.jpg", 10)
    (tmp_path / "public").symlink_to(tmp_path / "build" / "out", target_is_directory=True)
    result = cli("upload", str(tmp_path / "public"), "--folder", "/p", env=env)
    assert result.exit_code == 0, result.stderr
    assert fake.stored_paths() == {"/p/a.jpg"}


def test_links_in_a_stdin_list_are_not_followed_unless_asked(fake, env, cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tree = _linked_tree(tmp_path)
    listing = "".join(f"tree/{name}\n" for name in ("ok.jpg", "leak.jpg", "keys"))  # find tree
    result = cli("upload", "-", "--folder", "/l", "-o", "json", env=env, input=listing)
    assert result.exit_code == 0, result.stderr
    reasons = {p: f["reason"] for p, f in _records(result.stdout).items()}
    assert reasons == {
        "tree/ok.jpg": None,
        "tree/leak.jpg": LISTED_LINK,
        "tree/keys": LISTED_LINK,
    }
    assert fake.stored_paths() == {"/l/ok.jpg"}
    followed = cli("upload", "-", "--folder", "/f", "--follow-symlinks", "-o", "json", env=env,
                   input=listing)  # fmt: skip
    assert followed.exit_code == 0, followed.stderr
    assert fake.stored_paths() == {"/l/ok.jpg", "/f/ok.jpg"}  # no tree to keep a target in
    through = cli("upload", "-", "--folder", "/t", "-o", "json", env=env,
                  input="tree/keys/id_rsa.jpg\n")  # fmt: skip
    assert through.exit_code == 0, through.stderr
    assert _records(through.stdout)["tree/keys/id_rsa.jpg"]["reason"] == LISTED_LINK
    named = cli("upload", str(tree / "alias.jpg"), "--folder", "/n", env=env)  # typed: as given
    assert named.exit_code == 0, named.stderr
    assert fake.stored_paths() == {"/l/ok.jpg", "/f/ok.jpg", "/n/alias.jpg"}


# --- 9a. our own outputs -------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".csv", ".xml"])
def test_unwritable_report_exits_2_before_any_upload(fake, env, cli, tmp_path, suffix):
    make_file(tmp_path / "d" / "a.jpg", 10)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    report = blocker / "sub" / f"run{suffix}"
    result = cli("upload", str(tmp_path / "d"), "--report", str(report), env=env)
    assert result.exit_code == 2
    assert f"--report {report}: cannot write there" in result.stderr
    assert "Traceback" not in result.stderr
    assert "unexpected" not in result.stderr.lower()
    assert fake.requests == []


def test_report_in_read_only_folder_exits_2(fake, env, cli, tmp_path, monkeypatch):
    make_file(tmp_path / "d" / "a.jpg", 10)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    if os.geteuid() == 0:  # root writes anywhere: make the OS answer EACCES in that folder
        real_mkstemp = tempfile.mkstemp

        def mkstemp(*args: Any, **kwargs: Any) -> Any:
            if Path(str(kwargs.get("dir"))) == locked:
                raise PermissionError(13, "Permission denied")
            return real_mkstemp(*args, **kwargs)

        monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    result = cli("sync", str(tmp_path / "d"), "/s", "--report", str(locked / "r.json"), env=env)
    assert result.exit_code == 2
    assert "cannot write there (Permission denied)" in result.stderr
    assert fake.requests_of("upload") == []


def test_unwritable_step_summary_warns_and_the_run_goes_on(fake, env, cli, tmp_path):
    make_file(tmp_path / "d" / "a.jpg", 10)
    summary = tmp_path / "summary-is-a-folder"
    summary.mkdir()
    github = {**env, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    result = cli("upload", str(tmp_path / "d"), "-q", env=github)
    assert result.exit_code == 0, result.stderr
    assert f"warning: cannot write the job summary to GITHUB_STEP_SUMMARY {summary}" in (
        result.stderr
    )
    assert fake.stored_paths() == {"/a.jpg"}


# --- 9b. lossy skips are visible ----------------------------------------------------


def test_error_skips_exit_1_with_a_count_even_quiet(fake, env, cli, tmp_path):
    tree = tmp_path / "t"
    make_file(tree / "ok.jpg", 10)
    (tree / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    big = tree / "big.jpg"
    with big.open("wb") as out:
        out.truncate(25 * 1000 * 1000 + 1)  # over the free plan's 25 MB
    result = cli("-q", "upload", str(tree), env=env)
    assert result.exit_code == 1
    assert (
        "Not uploaded because of errors: 2 file(s) (1 dangling symlink, "
        "1 exceeds free plan limit 25 MB); each is in the report with its reason."
    ) in result.stderr
    assert fake.stored_paths() == {"/ok.jpg"}


def test_unreadable_folder_is_counted_as_a_folder(fake, env, cli, tmp_path, monkeypatch):
    make_file(tmp_path / "t" / "ok.jpg", 10)
    make_file(tmp_path / "t" / "locked" / "x.jpg", 10)
    real_scandir = os.scandir

    def scandir(path: Any) -> Any:  # EACCES for root too
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    result = cli("-q", "sync", str(tmp_path / "t"), "/s", env=env)
    assert result.exit_code == 1
    assert "Not uploaded because of errors: 1 folder(s) (1 permission denied)" in result.stderr
    assert fake.stored_paths() == {"/s/ok.jpg"}


def test_deep_nesting_is_an_error_skip(fake, env, cli, tmp_path):
    deep = tmp_path / "t" / Path(*["d"] * 51)
    make_file(deep / "x.jpg", 10)
    make_file(tmp_path / "t" / "ok.jpg", 10)
    result = cli("upload", str(tmp_path / "t"), "-o", "jsonl", env=env)
    assert result.exit_code == 1
    assert "1 folder nested deeper than 50 levels" in result.stderr


def test_skips_by_choice_keep_exit_0(fake, env, cli, tmp_path):
    tree = tmp_path / "t"
    make_file(tree / "ok.jpg", 10)
    make_file(tree / ".hidden.jpg", 10)
    make_file(tree / "drop.jpg", 10)
    make_file(tree / "tool.exe", 10)
    make_file(tree / "empty.jpg", 0)
    make_file(tree / "big.jpg", 2000)
    args = ["--exclude", "drop.jpg", "--max-size", "1KB"]
    first = cli("-q", "sync", str(tree), "/s", *args, env=env)
    assert first.exit_code == 0, first.stderr
    second = cli("-q", "sync", str(tree), "/s", *args, env=env)  # "unchanged" is a choice too
    assert second.exit_code == 0, second.stderr
    assert "Not uploaded because of errors" not in first.stderr + second.stderr
    assert fake.stored_paths() == {"/s/ok.jpg"}


# --- 9c. config set validates like the flags ------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "concurrency",
            "300",
            "concurrency must be auto or a whole number from 1 to 256, not '300'.",
        ),
        ("concurrency", "0", "concurrency must be auto or a whole number from 1 to 256, not '0'."),
        ("base_url", "http://api.example.com", "base_url uses http://"),
        ("base_url", "ftp://api.example.com", "base_url is not a valid https:// URL."),
        ("auth_endpoint", "example.com/sign", "auth_endpoint is not a valid https:// URL."),
        ("folder", "/a/../b", "folder '/a/../b' contains '..'."),
    ],
)
def test_config_set_refuses_what_the_flag_refuses(
    cli: CliRecorder, isolated_env, key, value, message
):
    result = cli("config", "set", key, value)
    assert result.exit_code == 2
    assert message in result.stderr
    assert not (isolated_env / "config.toml").exists()


def test_config_set_and_flag_share_one_concurrency_check(cli: CliRecorder, tmp_path):
    flag = cli("upload", str(tmp_path), "-j", "300", "--dry-run")
    assert flag.exit_code == 2
    assert "concurrency must be auto or a whole number from 1 to 256, not '300'." in flag.stderr
    accepted = [
        ("concurrency", "256"),
        ("base_url", "https://api.example.com/"),
        ("folder", "/site/2024"),
        ("auth_endpoint", "https://s.example/x?a=1"),
    ]
    for key, value in accepted:
        assert cli("config", "set", key, value).exit_code == 0


def test_one_local_file_reached_twice_is_sent_once(fake, env, cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_file(tmp_path / "h" / "v1.2" / "x.txt", 10)
    make_file(tmp_path / "h" / "deep.dot" / "z.txt", 11, 1)
    named = cli("upload", "h", "h/v1.2/x.txt", "--folder", "/args", "--any-type", env=env)
    assert named.exit_code == 0, named.stderr
    make_file(tmp_path / "g" / "top.txt", 12, 2)
    spelled = cli("upload", "g", "./g/top.txt", str(tmp_path / "g" / "top.txt"),
                  "--folder", "/spelled", "--any-type", env=env)  # fmt: skip
    assert spelled.exit_code == 0, spelled.stderr  # one file however spelled: no collision
    listing = "h\nh/v1.2\nh/v1.2/x.txt\nh/deep.dot\nh/deep.dot/z.txt\n"  # find h
    listed = cli("upload", "-", "--folder", "/stdin", "--any-type", env=env, input=listing)
    assert listed.exit_code == 0, listed.stderr
    assert fake.stored_paths() == {
        "/args/v1_2/x.txt", "/args/deep_dot/z.txt", "/stdin/v1_2/x.txt", "/stdin/deep_dot/z.txt",
        "/spelled/top.txt",
    }  # fmt: skip
