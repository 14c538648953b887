"""``imagekit completion``: print the shell completion script."""

from __future__ import annotations

from typing import Any

import click
from click.shell_completion import CompletionItem, get_completion_class

from imagekit_cli.config import PROFILE_KEYS

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_IMAGEKIT_COMPLETE"


def completion_script(root: click.Command, shell: str) -> str:
    """click's completion script for the ``imagekit`` command."""
    cls = get_completion_class(shell)
    assert cls is not None
    return cls(root, {}, "imagekit", COMPLETE_VAR).source()


def complete_paths(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Local files and folders, completed by the shell itself."""
    return [CompletionItem(incomplete, type="file")]


def complete_profile_keys(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """The settings a profile can hold."""
    return [CompletionItem(key) for key in PROFILE_KEYS if key.startswith(incomplete)]


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the completion script for SHELL (also shipped in completions/).

    \b
    Examples:
      imagekit completion bash > ~/.local/share/bash-completion/completions/imagekit
      imagekit completion zsh > "${fpath[1]}/_imagekit"
      imagekit completion fish > ~/.config/fish/completions/imagekit.fish
    """
    click.echo(completion_script(ctx.find_root().command, shell), nl=False)
