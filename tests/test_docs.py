"""Docs that stay true: help text, README coverage, completions, the CI test command."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from imagekit_cli.cli import cli as root
from imagekit_cli.errors import ExitCode
from tests.conftest import CliRecorder

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()
ENV_OPTIONS = {
    "--profile": "IMAGEKIT_PROFILE",
    "--base-url": "IMAGEKIT_BASE_URL",
    "--auth-endpoint": "IMAGEKIT_AUTH_ENDPOINT",
}


def walk(group: click.Command, prefix: str = "imagekit") -> Iterator[tuple[str, click.Command]]:
    yield prefix, group
    if isinstance(group, click.Group):
        for name, command in group.commands.items():
            yield from walk(command, f"{prefix} {name}")


COMMANDS = list(walk(root))


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_every_command_has_help_with_an_example(name: str, command: click.Command) -> None:
    assert command.help, f"{name} has no help"
    assert "Example" in command.help, f"{name}'s help has no example"


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_every_command_is_in_the_readme(name: str, command: click.Command) -> None:
    if isinstance(command, click.Group) and name != "imagekit":
        return  # groups are shown through their sub-commands
    assert f"`{name}" in README or f"{name} " in README, f"README does not mention {name}"


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_every_option_has_help_and_shows_its_env_var(name: str, command: click.Command) -> None:
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"{name} {param.opts} has no help"
            for opt in param.opts:
                if opt in ENV_OPTIONS:
                    assert param.help.endswith(f"Env: {ENV_OPTIONS[opt]}."), (name, opt)


def test_help_runs_for_every_command(cli: CliRecorder) -> None:
    for name, _ in COMMANDS:
        result = cli(*name.split()[1:], "--help")
        assert result.exit_code == 0, name
        assert "Usage:" in result.stdout


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completions_are_fresh(cli: CliRecorder, shell: str) -> None:
    result = cli("completion", shell)
    assert result.exit_code == 0
    shipped = (REPO / "completions" / f"imagekit.{shell}").read_text()
    assert result.stdout == shipped, f"regenerate: imagekit completion {shell} > completions/..."


def test_readme_test_command_is_what_ci_runs() -> None:
    blocks = re.findall(r"```sh\n(.*?)```", README, re.S)
    setup = [b.strip() for b in blocks if "pytest" in b]
    assert setup, "README lost its test command"
    test_command = setup[0].split("&&")[-1].strip()
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert test_command in ci


def test_readme_exit_codes_match_the_enum() -> None:
    for code in ExitCode:
        assert re.search(rf"^\| {int(code)} \| ", README, re.M), f"exit {int(code)} missing"


def test_version(cli: CliRecorder) -> None:
    from imagekit_cli import __version__

    result = cli("--version")
    assert result.stdout.strip() == f"imagekit-cli {__version__}"
