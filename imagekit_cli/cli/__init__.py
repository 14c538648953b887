"""The click command group (placeholder while the commands are built)."""

import click


@click.group()
def cli() -> None:
    """imagekit."""


def main() -> None:
    """Console entry point."""
    cli()
