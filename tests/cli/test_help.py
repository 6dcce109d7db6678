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


def test_help_texts_are_not_broken_mid_sentence() -> None:
    """Typer prints a help text's single line breaks as they are: docstrings wrapped in the source
    showed in `--help`, and in `anju --help`'s list of commands, as lines broken mid-sentence
    ("exit 1 on the first error, 2 when" / "DATA holds no ledger."). On a terminal wide enough,
    each paragraph of a command's docstring is one line."""
    import inspect

    root = typer.main.get_command(app)
    runner = CliRunner()
    checked = 0
    for path in _paths(root, []):
        cmd: click.Command = root
        for name in path:
            cmd = cmd.commands[name]  # type: ignore[attr-defined]
        if cmd.callback is None or not cmd.callback.__doc__:
            continue
        output = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "1000"}).output
        for paragraph in inspect.cleandoc(cmd.callback.__doc__).split("\n\n"):
            line = " ".join(paragraph.split())
            assert line in output, (path, line, output)
        checked += 1
    assert checked > 20, checked
    listing = runner.invoke(app, ["--help"], env={"COLUMNS": "1000"}).output
    assert "exit 1 on the first error, 2 when DATA holds no ledger." in listing, listing
