"""The command line as a person meets it: global options anywhere, help, panels."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest

from tests.conftest import CliRecorder, make_file
from tests.fake_imagekit import FakeState
from tests.test_docs import COMMANDS

REPO = Path(__file__).resolve().parent.parent
LEAVES = [(n, c) for n, c in COMMANDS if not isinstance(c, click.Group)]


def test_imagekit_alone_prints_help_and_exits_0(cli: CliRecorder) -> None:
    result = cli()
    assert result.exit_code == 0
    assert result.stdout.startswith("Usage: ")
    assert "Commands:" in result.stdout
    assert "upload" in result.stdout


@pytest.mark.parametrize(("name", "command"), LEAVES, ids=[n for n, _ in LEAVES])
def test_global_options_are_in_every_subcommands_help(name: str, command: click.Command) -> None:
    opts = {opt for param in command.params for opt in [*param.opts, *param.secondary_opts]}
    for option in ("--profile", "--base-url", "--color", "--no-color", "-v", "-q", "--debug"):
        assert option in opts, f"{name} does not accept {option}"


@pytest.mark.parametrize("where", ["before", "after"])
def test_profile_and_base_url_work_in_any_position(
    fake: FakeState, cli: CliRecorder, tmp_path: Path, where: str
) -> None:
    from tests.conftest import PRIVATE_KEY

    config = tmp_path / "config.toml"
    config.write_text(f'[profiles.staging]\nprivate_key = "{PRIVATE_KEY}"\n')
    config.chmod(0o600)
    make_file(tmp_path / "a.jpg", 10)
    env = {"IMAGEKIT_CONFIG": str(config)}
    flags = ["--profile", "staging", "--base-url", fake.base_url, "--no-color"]
    command = ["upload", str(tmp_path / "a.jpg"), "--folder", "/pos", "-o", "json"]
    args = [*flags, *command] if where == "before" else [*command, *flags]
    result = cli(*args, env=env)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["summary"]["uploaded"] == 1
    assert fake.stored_paths() == {"/pos/a.jpg"}
    shown = cli("config", "show", "--profile", "staging", env=env)
    assert shown.exit_code == 0, shown.stderr
    assert "profile = staging" in shown.stdout


def test_upload_help_groups_options_into_panels(cli: CliRecorder) -> None:
    result = cli("upload", "--help")
    assert result.exit_code == 0
    text = result.stdout
    panels = ["What to upload:", "ImageKit fields:", "Filters:", "Speed and retries:",
              "Authentication:", "Output:"]  # fmt: skip
    positions = [text.index(f"\n{p}\n") for p in panels]
    assert positions == sorted(positions)
    fields = text[text.index("ImageKit fields:") : text.index("Filters:")]
    assert "--custom-metadata" in fields
    assert "--include" not in fields
    auth = text[text.index("Authentication:") : text.index("Output:")]
    assert "--auth-endpoint" in auth
    assert "--profile" in auth


def test_readmes_first_command_is_a_dry_run_of_the_demo_tree(
    cli: CliRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = (REPO / "README.md").read_text()
    first_block, shown = re.findall(r"```(?:sh|text)\n(.*?)```", readme, re.S)[:2]
    command = first_block.strip().split("&&")[-1].split()
    assert command[:2] == [".venv/bin/imagekit", "upload"]
    assert "--dry-run" in command
    monkeypatch.chdir(REPO)
    result = cli(*command[1:])
    assert result.exit_code == 0, result.stderr
    shown_lines = shown.strip().splitlines()
    summary = shown_lines[-1]
    assert summary.startswith("Planned 7, skipped 2, failed 0 · ")
    assert result.stderr.splitlines()[-1].split(" · ")[0] == summary.split(" · ")[0]
    assert shown_lines[-2] in result.stderr  # the type-skip line
    table = [line.split() for line in result.stdout.splitlines()]
    for line in shown_lines[:-2]:
        assert line.split() in table, f"README shows a row the command does not print: {line}"
    assert len(table) == len(shown_lines) - 2


def _complete(args: list[str], incomplete: str) -> list[tuple[str, str]]:
    from click.shell_completion import ShellComplete

    from imagekit_cli.cli import cli as root

    completer = ShellComplete(root, {}, "imagekit", "_IMAGEKIT_COMPLETE")
    return [(item.value, item.type) for item in completer.get_completions(args, incomplete)]


def test_completion_offers_files_for_upload_and_keys_for_config_set() -> None:
    assert _complete(["upload"], "pho") == [("pho", "file")]  # the shell lists files
    assert _complete(["upload", "a.jpg"], "") == [("", "file")]
    keys = [value for value, _ in _complete(["config", "set"], "p")]
    assert keys == ["private_key", "public_key", "plan"]
