"""`anju consortium …` (a local CometBFT network of Anju members) and `anju bench consortium`.

Registered on the main app when ``anju.cli.main`` imports this module.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from anju.cli.main import app, bench_app, console, fail, results, unwrap_help

consortium_app = typer.Typer(
    help="A local consortium: CometBFT validators, each running an Anju member.", no_args_is_help=True
)
app.add_typer(consortium_app, name="consortium")

DirOpt = Annotated[Path, typer.Option("--dir", help="The consortium directory.")]
NodesOpt = Annotated[list[int] | None, typer.Option("--node", help="Only these node indexes (repeatable).")]


def _fail(exc: Exception) -> NoReturn:
    fail(str(exc), 1)


def _say(line: str) -> None:
    """A line of a command's answer, on stdout (as every command's answer: errors and progress go
    to stderr), as it is (names and paths are not markup)."""
    results.print(line, markup=False, highlight=False, soft_wrap=True)


def _check_nodes(directory: Path, node: list[int] | None) -> None:
    """``--node`` must name nodes of the layout: a usage error (exit 2) otherwise (it used to do
    nothing and say so as if they were all running, or all stopped)."""
    from anju.chain import consortium as c

    if not node:
        return
    known = sorted(n.index for n in c.nodes_of(c.load(directory)))
    unknown = sorted(set(node) - set(known))
    if unknown:
        fail(f"--node {unknown[0]}: the nodes of {directory} are {', '.join(map(str, known))}", 2)


@consortium_app.command("init")
def consortium_init(
    directory: DirOpt = Path("consortium"),
    validators: Annotated[int, typer.Option(min=1, max=50, help="Number of validators (members), 1-50.")] = 4,
    chain_id: Annotated[str, typer.Option("--chain-id", help="Chain id (CometBFT and Anju).")] = "anju-consortium",
    app_name: Annotated[str, typer.Option("--app", help="Application: anju-registry or kv.")] = "anju-registry",
    base_port: Annotated[
        int,
        typer.Option(
            min=1,
            max=65535,
            help="Node i uses ports base+10i .. base+10i+4 (the last: its API and portal); all must be at most 65535.",
        ),
    ] = 26600,
    params: Annotated[
        Path | None,
        typer.Option(
            help="JSON file with the application's genesis params (a registry chain gets the newest rules "
            "edition unless it names 'rules')."
        ),
    ] = None,
    ledger: Annotated[
        Path | None,
        typer.Option(help="Start from this Anju ledger directory (same chain id; e.g. an embedded node's data)."),
    ] = None,
) -> None:
    """Create validator keys, one genesis for all, configs and each member's Anju ledger."""
    import subprocess

    from anju.chain import consortium as c

    top = base_port + 10 * (validators - 1) + 4
    if validators >= 1 and top > 65535:
        fail(f"--base-port {base_port}: {validators} validators would use ports up to {top} (at most 65535)", 2)
    try:
        try:
            p = json.loads(params.read_text()) if params else None
        except (ValueError, RecursionError) as exc:  # (not UTF-8, not JSON, nested deeper than json recurses)
            why = "nested too deep" if isinstance(exc, RecursionError) else str(exc)
            raise ValueError(f"--params {params}: not a JSON file: {why}") from None
        layout = c.init(
            directory,
            validators=validators,
            chain_id=chain_id,
            app=app_name,
            base_port=base_port,
            params=p,
            ledger=ledger,
        )
    except (c.ConsortiumError, ValueError, OSError) as exc:
        _fail(exc)
    except subprocess.CalledProcessError as exc:  # `cometbft init` failed: its own words
        said = (exc.stderr or b"").decode(errors="replace").strip().splitlines()
        fail(f"{exc.cmd[0]} {exc.cmd[1]} failed (exit {exc.returncode})" + (f": {said[-1]}" if said else ""), 1)
    for n in layout["nodes"]:
        _say(
            f"{n['member']}: p2p {n['host']}:{n['p2p']}  rpc http://{n['host']}:{n['rpc']}  "
            f"abci {n['host']}:{n['abci']}  cosign http://{n['host']}:{n['cosign']}  "
            f"api+portal http://{n['host']}:{n['p2p'] + 4}"
        )
    _say(f"threshold {layout['threshold']} of {len(layout['members'])} member signatures")
    if layout["first_height"] > 1:
        _say(f"carries on from the ledger in {ledger}: the first consortium block is {layout['first_height']}")


@consortium_app.command("up")
def consortium_up(directory: DirOpt = Path("consortium"), node: NodesOpt = None) -> None:
    """Start every member's ABCI app and CometBFT node in the background (pid files, logs in node<i>/)."""
    from anju.chain import consortium as c

    try:
        _check_nodes(directory, node)
        started = c.up(directory, only=node)
    except (c.ConsortiumError, OSError) as exc:  # a bad layout; a program or a log that cannot be opened
        _fail(exc)
    _say("started: " + (", ".join(started) or "nothing (already running)"))


@consortium_app.command("down")
def consortium_down(
    directory: DirOpt = Path("consortium"),
    node: NodesOpt = None,
    kill: Annotated[bool, typer.Option("--kill", help="SIGKILL instead of a clean stop.")] = False,
) -> None:
    """Stop CometBFT and then the ABCI app of every member (or of --node)."""
    from anju.chain import consortium as c

    try:
        _check_nodes(directory, node)
        stopped = c.down(directory, only=node, kill=kill)
    except (c.ConsortiumError, OSError) as exc:
        _fail(exc)
    _say("stopped: " + (", ".join(stopped) or "nothing (none was running)"))


@consortium_app.command("status")
def consortium_status(
    directory: DirOpt = Path("consortium"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Heights, app hashes, cosigned heights and divergent members, per node (a member that cannot
    be reached, or answers something else than its status, shows no height)."""
    from anju.chain import consortium as c

    try:
        rows = c.status(directory)
    except (c.ConsortiumError, OSError) as exc:
        _fail(exc)
    if as_json:
        sys.stdout.write(json.dumps(rows) + "\n")
        return

    def shown(value: object) -> str:
        """A figure as it is; what a member did not say (null with --json) as "-"; members' names
        joined by commas."""
        if isinstance(value, list):
            value = ", ".join(map(str, value))
        return "-" if value is None or value == "" else str(value)

    for r in rows:
        up = "up" if r["app_running"] and r["cometbft_running"] else "DOWN"
        _say(
            f"{r['member']:<10} {up:<5} height {shown(r.get('anju_height'))}  app_hash "
            f"{shown(str(r.get('anju_app_hash') or '')[:16])}  cosigned {shown(r.get('anju_cosigned_height'))}  "
            f"divergent {shown(r.get('anju_divergent'))}"
        )


@bench_app.command("consortium")
def bench_consortium(
    out: Annotated[Path, typer.Option(help="Where to write the JSON.")] = Path("bench/results/consortium.json"),
) -> None:
    """4 validators: Anju's tx rate and cosigned finality vs CometBFT's kvstore under the same load."""
    from anju.bench.consortium import run

    result = run(console)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    sys.stdout.write(json.dumps(result) + "\n")


unwrap_help(app)  # (last: this module's commands too, whichever module was imported first)
