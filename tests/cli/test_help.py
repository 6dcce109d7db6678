"""Every command's ``--help`` renders: Typer reads help texts as Rich markup, so a stray ``[/x]``
in one (an address pattern, say) breaks that command's help with a traceback."""

from __future__ import annotations

from collections.abc import Iterator

import click
import typer.main
from typer.testing import CliRunner

from anju.cli.main import app


def _paths(cmd: click.Command, path: list[str]) -> Iterator[list[str]]:
    yield path
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from _paths(sub, [*path, name])


def test_every_command_has_a_help_page() -> None:
    paths = list(_paths(typer.main.get_command(app), []))
    assert ["serve"] in paths and ["tx", "send"] in paths and ["consortium", "up"] in paths
    runner = CliRunner()
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "120"})
        assert result.exit_code == 0, (path, result.output[-2000:])
        assert "Usage:" in result.output, path


def test_public_url_must_be_a_site_address() -> None:
    from anju.cli.serve_cmds import _is_site_url

    for good in ("https://anju.example.org", "http://10.0.0.5:8080/anju/", "https://xn--fiq.example"):
        assert _is_site_url(good), good
    for bad in (
        "anju.example.org",
        "ftp://anju.example.org",
        "https://",
        "https://anju.example.org/?a=1",
        "https://anju.example.org/#x",
        "https://user@anju.example.org",
        "https://anju.example.org:99999",
        "https://anju.example.org/a b",
        "https://安居.example",
        "javascript://anju.example.org/%0Aalert(1)",
    ):
        assert not _is_site_url(bad), bad
