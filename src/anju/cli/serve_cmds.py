"""Network-facing commands (serve, demo, tx, check); registered on the main app by import."""

from __future__ import annotations

import json
import os
import re
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from anju.cli.main import JsonOpt, _emit, app, console, fail, unwrap_help

if TYPE_CHECKING:
    from anju.api.app import Settings
    from anju.client.verify import Trust

tx_app = typer.Typer(help="Build, sign and submit transactions; look them up.", no_args_is_help=True)
app.add_typer(tx_app, name="tx")

ServerOpt = Annotated[str, typer.Option("--server", help="Base URL of an Anju node.")]
ConsortiumOpt = Annotated[
    Path | None,
    typer.Option(
        help="A consortium directory: trust its members' keys and threshold, and the key history its "
        "consortium.json records (the heights a copied ledger's key signed)."
    ),
]
VkeyOpt = Annotated[
    str | None,
    typer.Option(
        "--vkey",
        help="Trusted verifier key (default: the key and key history the node reports, trusted on first use).",
    ),
]
DEFAULT_SERVER = "http://127.0.0.1:8080"


def _serve(
    data: Path,
    host: str,
    port: int,
    settings: Settings | None = None,
    *,
    mempool: int | None = None,
    forwarded_allow: str | None = None,
    public_url: str | None = None,
    max_sessions: int | None = None,
    sockets: list[socket.socket] | None = None,
) -> None:
    """Serve ``data`` with the API's ``settings`` and the node's ``mempool`` limit (defaults: theirs).
    The address is bound before the node starts (or was, ``sockets``: :func:`_listen`)."""
    import sqlite3

    from anju.api.app import create_app
    from anju.api.http import serve
    from anju.chain.node import DB_NAME, Node
    from anju.errors import StorageCorrupt
    from anju.web.portal import mount_web

    try:
        node = Node(data) if mempool is None else Node(data, mempool_limit=mempool)
    except StorageCorrupt as exc:  # in use by another node, a wrong key, a format this build cannot run
        fail(f"cannot serve {data}: {exc.code}: {exc.message}", 1)
    except sqlite3.DatabaseError as exc:  # not a SQLite database, a damaged one
        fail(f"cannot serve {data}: {data / DB_NAME}: {exc}", 1)
    except (OSError, ValueError, sqlite3.Error) as exc:  # unreadable files, bad JSON
        fail(f"cannot serve {data}: {exc}", 1)
    if sockets is None:
        try:
            sockets = _listen(host, port)
        except typer.Exit:
            node.close()
            raise
    api = create_app(node, settings)
    web: dict[str, Any] = {} if max_sessions is None else {"max_sessions": max_sessions}
    mount_web(api, node, data_dir=data, public_url=public_url, **web)  # the portal at /, on the API's services
    console.print(
        f"[bold green]Anju[/bold green] {_x(node.chain_id)} at [link]http://{_x(host)}:{port}[/link]  "
        f"(API http://{_x(host)}:{port}/api/v1, OpenAPI /openapi.json)\nverifier key: {_x(node.verifier_key)}",
        soft_wrap=True,  # whole lines in a log, whatever the terminal's width
    )
    # The rate limits key on the client's address: X-Forwarded-For is believed only from the proxies
    # named with --forwarded-allow-ips (uvicorn's default trusts any local process to set it).
    serve(
        api,
        sockets,
        host=host,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=5,
        access_log=False,
        proxy_headers=forwarded_allow is not None,
        forwarded_allow_ips=forwarded_allow or "",
    )


@app.command()
def serve(
    data: Annotated[Path, typer.Option("--data", help="The node's data directory.")],
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port (1-65535).")] = 8080,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    rate: Annotated[float, typer.Option(help="Requests per second per client (0: no limit).")] = 2000.0,
    burst: Annotated[float, typer.Option(help="Token-bucket burst per client.")] = 4000.0,
    max_body: Annotated[int, typer.Option(help="Maximum request body, bytes.")] = 256 * 1024,
    mempool: Annotated[int, typer.Option(help="Pending transactions before MEMPOOL_FULL.")] = 100_000,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            "--forwarded-allow-ips",
            help="Reverse proxies (comma-separated addresses) whose X-Forwarded-For names the client; "
            "by default the header is ignored.",
        ),
    ] = None,
    streams_per_client: Annotated[
        int, typer.Option("--streams-per-client", min=1, help="Open event streams per client address.")
    ] = 256,
    streams_total: Annotated[
        int, typer.Option("--streams-total", min=1, help="Open event streams in all (then STREAMS_FULL, 503).")
    ] = 10_000,
    stream_stall: Annotated[
        float,
        typer.Option(
            "--stream-stall",
            min=1.0,
            help="Seconds an event stream's client may take nothing before the stream is dropped "
            "(it resumes with Last-Event-ID).",
        ),
    ] = 30.0,
    public_url: Annotated[
        str | None,
        typer.Option(
            "--public-url",
            help="The site's public address, e.g. https://anju.example.org or http://10.0.0.5:8080/anju; listings' "
            "verification links and "
            "QR codes point there. By default they use the address each request came to (its Host header).",
        ),
    ] = None,
    max_sessions: Annotated[
        int,
        typer.Option(
            "--max-sessions", min=1, help="Portal sign-ins held at once (past that, a new sign-in is refused: 503)."
        ),
    ] = 10_000,
) -> None:
    """Run a node and its HTTP API until stopped (Ctrl-C, SIGTERM, SIGHUP: commits all accepted, then exits 0)."""
    from anju.chain.node import DB_NAME

    if not (data / DB_NAME).exists():
        fail(f"no ledger in {data}; create one with `anju init`", 2)
    from anju.api.app import Settings

    if public_url is not None and not _is_site_url(public_url):
        fail("--public-url must be http(s)://host[:port][/path], without query or fragment: " + repr(public_url), 2)
    limits = Settings(
        rate=rate,
        burst=burst,
        max_body_bytes=max_body,
        streams_per_client=streams_per_client,
        streams_total=streams_total,
        stream_stall_s=stream_stall,
    )
    _serve(
        data,
        host,
        port,
        limits,
        mempool=mempool,
        forwarded_allow=forwarded_allow_ips,
        public_url=public_url,
        max_sessions=max_sessions,
    )


def _is_site_url(url: str) -> bool:
    """An absolute http(s) URL with a host and nothing after its path."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and not parts.query
        and not parts.fragment
        and not parts.username
        and url.isascii()
        and url.isprintable()
        and " " not in url
    )


DEMO_CHAIN = "anju-demo"
"""The chain id of every district :func:`build_demo` makes."""
MAX_BUNDLE_FILE = 256 << 20
"""The largest single-bundle file ``anju check`` reads (a node's largest history bundle, 5,000 proven
transactions, is a few tens of MB; larger histories come in parts, read a line at a time)."""
DEMO_MANIFEST = "demo-parties.json"
"""The party manifest :func:`build_demo` writes beside the ledger (read by the portal's demo sign-in)."""
_BUILD_FILES = frozenset(
    {"genesis.json", "node.key", "node.key.tmp", "ledger.lock", "ledger.store.lock", DEMO_MANIFEST}
    | {base + s for base in ("ledger.db", "ledger.db.init") for s in ("", "-wal", "-shm", "-journal")}
)
"""Every name :func:`build_demo` may leave in its directory (an interrupted build: some of them)."""


def build_demo(
    data: Path, units: int, seed: str = "anju-demo", quiet: bool = False, start: str | None = None
) -> dict[str, Any]:
    """Create the demo district in ``data`` (committed block by block) and save its party manifest."""
    import dataclasses
    from datetime import UTC, datetime, timedelta

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from anju.chain.node import Node, init_ledger
    from anju.crypto.tx import parse_and_verify
    from anju.demo.generate import generate

    # By default the district's three years of history end today, so its listings are current when served.
    start = start or (datetime.now(UTC).date() - timedelta(days=3 * 365)).isoformat()
    demo = generate(seed, units, start=start, chain=DEMO_CHAIN)
    init_ledger(
        data, chain_id=demo.chain, app="anju-registry", params=demo.genesis, genesis_time=demo.start + "T00:00:00.000Z"
    )
    node = Node(data, verify_workers=0)
    blocks = txs = rejected = 0
    try:
        with Progress(
            TextColumn("building demo district"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("blocks · {task.fields[txs]} txs"),
            TimeElapsedColumn(),
            console=console,
            disable=quiet,
            transient=True,
        ) as bar:
            task = bar.add_task("demo", total=None, txs=0)
            for when, envs in demo.blocks():
                parsed = [parse_and_verify(json.dumps(e, ensure_ascii=False).encode()) for e in envs]
                _rec, results = node.commit_block(when, parsed)
                blocks += 1
                txs += len(parsed)
                rejected += sum(r is not None for r in results)
                bar.update(task, advance=1, txs=txs)
    finally:
        node.close()
    manifest = {
        "chain_id": demo.chain,
        "seed": seed,
        "units": units,
        "parties": [dataclasses.asdict(p) for p in demo.manifest],
    }
    # the demo parties' private keys: readable by their owner only, as a node.key or keystore is
    fd = os.open(data / DEMO_MANIFEST, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n")
    return {"blocks": blocks, "transactions": txs, "rejected": rejected}


class _Refused(Exception):
    """``anju demo`` will not use the data directory it was given: one line saying why, an exit code."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@app.command()
def demo(
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            help="Data directory: a new or empty one is built in; a demo district is served (one this command "
            "built in an older storage format or before rule editions is moved to DATA.old-N and built again). "
            "Anything else is refused and left as it is.",
        ),
    ] = Path("anju-demo"),
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port (1-65535).")] = 8080,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    units: Annotated[int, typer.Option(min=1, help="Units in the generated district.")] = 300,
) -> None:
    """Build the demo district if absent, then serve it (http://127.0.0.1:8080 by default).

    Exits 2 when DATA is not a directory, or holds files but no ledger; 1 when it holds a ledger
    this command may not rebuild (not a demo district it built, or written by a newer build)."""
    from anju.chain.node import DB_NAME

    # One real path from here on: DATA may be "." (moving it aside moves the working directory
    # too) or a symbolic link (the district is built beside, and renamed into, what it points to).
    data = Path(os.path.realpath(data))

    try:
        if (data / DB_NAME).exists():
            stale = _stale_demo(data)
            if stale:
                if not _built_by_demo(data):
                    raise _Refused(
                        f"{data} holds a ledger {stale} that `anju demo` did not build (its districts are chain "
                        f"{DEMO_CHAIN} with {DEMO_MANIFEST} beside them): left as it is; give another --data"
                    )
                moved = _move_aside(data)
                console.print(
                    f"{data} holds a demo district {stale}: moved it to {moved}, building it again",
                    markup=False,
                    soft_wrap=True,
                )
        build = not (data / DB_NAME).exists()
        if build:
            _check_build_target(data)
    except _Refused as exc:
        fail(str(exc), exc.exit_code)
    sockets = _listen(host, port)  # before a build of minutes: a port in use is said at once
    if build:
        try:
            _build_in(data, units)
        except _Refused as exc:
            for sock in sockets:
                sock.close()
            fail(str(exc), exc.exit_code)
    _serve(data, host, port, sockets=sockets)


def _listen(host: str, port: int) -> list[socket.socket]:
    """The server's sockets, bound: an address that cannot be listened on (in use, not this
    machine's, a name that does not resolve) is one line, exit 1."""
    from anju.api.http import cannot_listen, listen

    try:
        return listen(host, port)
    except OSError as exc:
        fail(cannot_listen(host, port, exc), 1)


def _check_build_target(data: Path) -> None:
    """Refuse (:class:`_Refused`) a ``data`` the demo district cannot be built in: one that is not
    a new or empty directory, or whose building place beside it is taken by something else."""
    if data.exists() or data.is_symlink():
        if not data.is_dir():
            raise _Refused(f"{data} is not a directory: give --data a new or empty directory", 2)
        if any(data.iterdir()):
            raise _Refused(
                f"{data} holds files but no ledger: `anju demo` builds only in a new or empty directory "
                "(give another --data)",
                2,
            )
    partial = data.with_name(data.name + ".building")
    # only a build of this command's that was interrupted is removed (by _build_in); anything else stays
    taken = partial.exists() or partial.is_symlink()
    if taken and (not partial.is_dir() or partial.is_symlink() or not _only_build_files(partial)):
        raise _Refused(f"{partial} is in the way and is not an interrupted demo build: move it away", 2)


def _build_in(data: Path, units: int) -> None:
    """Build the demo district into ``data`` (a real absolute path, as :func:`demo` makes it), which
    :func:`_check_build_target` accepted. It is built beside the target and renamed at the end:
    an interrupted build leaves no half district, and a failed one leaves ``data`` as it was."""
    import shutil

    _check_build_target(data)  # (again: time passed)
    partial = data.with_name(data.name + ".building")
    if partial.exists():
        shutil.rmtree(partial)  # an interrupted build of this command's (checked)
    try:
        stats = build_demo(partial, units)
        if data.exists():
            data.rmdir()  # empty, as checked above
        partial.rename(data)
    except OSError as exc:
        raise _Refused(f"cannot build the demo district in {data}: {exc}") from None
    console.print(
        f"built demo district: {stats['blocks']} blocks, {stats['transactions']} transactions "
        f"({stats['rejected']} rejected); parties in {data / DEMO_MANIFEST}",
        markup=False,
        soft_wrap=True,
    )


def _only_build_files(directory: Path) -> bool:
    return all(p.name in _BUILD_FILES and p.is_file() and not p.is_symlink() for p in directory.iterdir())


def _built_by_demo(data: Path) -> bool:
    """Whether ``data`` is a district :func:`build_demo` made: the demo chain and its party manifest."""
    from anju.chain.node import read_genesis

    try:
        return read_genesis(data).get("chain_id") == DEMO_CHAIN and (data / DEMO_MANIFEST).is_file()
    except (OSError, ValueError):
        return False


def _move_aside(data: Path) -> Path:
    """Rename ``data`` (a real absolute path) to the first free ``DATA.old-N`` beside it (nothing
    in it is deleted)."""
    for n in range(1, 10_000):
        target = data.with_name(f"{data.name}.old-{n}")
        if not (target.exists() or target.is_symlink()):
            try:
                data.rename(target)
            except OSError as exc:
                raise _Refused(f"cannot move {data} aside to {target}: {exc}") from None
            return target
    raise _Refused(f"cannot move {data} aside: {data.name}.old-1 to .old-9999 all exist")


def _stale_demo(data: Path) -> str | None:
    """Why the ledger in ``data`` must be built again, or None: an older storage format than this
    build reads, or a registry genesis from before rule editions (development builds then ran rules
    that edition 1 does not reproduce exactly, so such a district may not replay: see REGISTRY.md,
    "Rule editions"). Whether it may be built again is the caller's question (:func:`_built_by_demo`).
    Raises :class:`_Refused` when nothing here may touch it: written by a newer build (a storage
    format this build does not know), or unreadable."""
    import sqlite3

    from anju.chain.node import DB_NAME, read_genesis
    from anju.errors import StorageCorrupt

    try:
        if _old_format(data / DB_NAME):
            return "in an older storage format"
        doc = read_genesis(data)
    except StorageCorrupt as exc:
        if exc.code == "STORE_FORMAT":
            raise _Refused(
                f"{data} holds a ledger in store format {exc.details.get('found')}, written by a newer build (this "
                f"one reads formats up to {exc.details.get('expected')}): serve it with that build; left as it is"
            ) from None
        raise _Refused(f"{data}: {exc.code}: {exc.message}; left as it is") from None
    except (OSError, ValueError, sqlite3.Error) as exc:
        raise _Refused(f"{data} holds a ledger this command cannot read ({exc}); left as it is") from None
    params = doc.get("params")
    if doc.get("app") == "anju-registry" and isinstance(params, dict) and "rules" not in params:
        return "made before rule editions"
    return None


def _old_format(db: Path) -> bool:
    """Whether ``db`` is in a storage format older than any this build reads (then only a rebuild
    helps); a format newer than this build's raises ``STORE_FORMAT`` (a newer build wrote it)."""
    from anju.errors import StorageCorrupt
    from anju.ledger.store import STORE_FORMAT, Store

    try:
        Store(db, readonly=True).close()
    except StorageCorrupt as exc:
        found = str(exc.details.get("found", ""))
        if exc.code == "STORE_FORMAT" and re.fullmatch("[0-9]{1,9}", found) and int(found) < int(STORE_FORMAT):
            return True
        raise
    return False


ENVELOPE_FIELDS = ("chain", "kind", "signer", "seq")
"""Body fields ``tx send`` fills in itself: a ``--field`` may not name them."""


def _coerce(value: str) -> Any:
    """``k=v`` values: JSON when they parse as JSON (integers, true/false/null, arrays, objects,
    "quoted strings"), else the string as it is. A string that reads as JSON is passed quoted:
    ``--field 'value="1"'``. A number with a fraction or exponent stays a string (JSON has no
    floats here)."""
    try:
        out = json.loads(value)
    except (ValueError, RecursionError):  # (json's parser recurses: nested deeper than the stack)
        return value
    return out if not isinstance(out, float) else value


def _fields(items: list[str]) -> dict[str, Any]:
    """The body fields of ``--field k=v`` options; a usage error (exit 2) for one without ``=``, a
    name given twice, or a name ``tx send`` fills in itself (:data:`ENVELOPE_FIELDS`)."""
    fields: dict[str, Any] = {}
    for item in items:
        k, sep, v = item.partition("=")
        problem = (
            "needs k=v"
            if not sep or not k
            else f"{k!r} is given twice"
            if k in fields
            else f"{k!r} is filled in by tx send itself (the envelope's {', '.join(ENVELOPE_FIELDS)})"
            if k in ENVELOPE_FIELDS
            else None
        )
        if problem:
            fail(f"--field {item!r}: {problem}", 2)
        fields[k] = _coerce(v)
    return fields


def _client(server: str, key: str | None, **options: Any) -> Any:
    """An AnjuClient of ``server`` trusting ``key`` (None and no ``verifier_keys``: the key the node
    reports, and the key history reported with it, trusted on first use). A malformed URL is a
    usage error (exit 2); a node that cannot be reached, or is not one, raises AnjuError
    (NODE_UNREACHABLE, BAD_RESPONSE) for the caller to report."""
    from anju.client import AnjuClient
    from anju.client.sdk import node_base_url

    try:
        node_base_url(server)
    except ValueError as exc:
        fail(f"--server: {exc}", 2)
    if key is None and not options.get("verifier_keys"):
        return AnjuClient.trusting_node(server, **options)
    return AnjuClient(server, key, **options)


def _consortium_trust(
    consortium: Path, threshold: int | None, *, given: str | None = None
) -> tuple[list[str], int, list[list[Any]]]:
    """Whom ``--consortium DIR`` trusts: its members' keys, the threshold (``threshold`` may ask
    for more signatures than its quorum, never fewer) and the key history its consortium.json
    records. ``given``: the option that already names whom to trust (both: a usage error, exit 2),
    as is a directory without a valid consortium.json."""
    from anju.chain.consortium import ConsortiumError, key_history_of, trust_of

    if given is not None:
        fail(f"{given} and --consortium both name whom to trust: give one of them", 2)
    try:
        keys, quorum = trust_of(consortium)
        history = key_history_of(consortium)
    except ConsortiumError as exc:  # no consortium.json there, or one that is not a root of trust
        fail(str(exc), 2)
    if threshold is not None and not quorum <= threshold <= len(keys):
        fail(
            f"--threshold {threshold}: this consortium's {len(keys)} members need at least "
            f"{quorum} signatures (at most {len(keys)})",
            2,
        )
    return keys, quorum if threshold is None else threshold, history


def _x(value: object) -> str:
    """``value`` as text for rich markup: what a node or a bundle says is shown as it is (a ``[`` in
    a street name or an id is not markup)."""
    from rich.markup import escape

    return escape(str(value))


def _failed(exc: Any, as_json: bool, prefix: str = "", **extra: Any) -> None:
    """Report an AnjuError: its JSON error object on stdout with ``--json`` (``extra`` fields
    beside it), else one line (and its details) on stderr; the caller exits non-zero."""
    from rich.markup import escape

    text = exc.diagnostics()
    if getattr(exc, "code", None) == "NODE_UNREACHABLE":  # one line: the message names the cause already
        text = f"{exc.code}: {exc.message}"
        if exc.details.get("cause") == "refused":  # nothing listens there: say what to do
            text += " (is a node serving there? `anju serve` starts one; --server names another)"
    _emit({**extra, **exc.to_json()}, as_json, f"[red]{prefix}[/red]{escape(text)}", error=True)


@tx_app.command("send")
def tx_send(
    kind: Annotated[str, typer.Option("--kind", help="Transaction kind, e.g. listing.publish.")],
    key: Annotated[Path, typer.Option("--key", help="Signer's keystore or key file.")],
    field: Annotated[
        list[str] | None,
        typer.Option(
            "--field",
            help="Body field k=v, once per name. v is read as JSON when it parses (1, true, [..], {..}), "
            "else taken as text; quote a text that reads as JSON: value='\"1\"'. chain, kind, signer and seq "
            "are filled in.",
        ),
    ] = None,
    cosign: Annotated[list[Path] | None, typer.Option("--cosign", help="Co-signer key files.")] = None,
    server: ServerOpt = DEFAULT_SERVER,
    vkey: VkeyOpt = None,
    consortium: ConsortiumOpt = None,
    password: Annotated[
        str | None, typer.Option(envvar="ANJU_PASSWORD", help="Keystore password (asked for when needed).")
    ] = None,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Do not wait for commit.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Build, sign and submit a transaction of any kind; waits for commit and verifies its inclusion.

    Exit 0 when committed (or, with --no-wait, accepted), 1 when refused, the node cannot be
    reached (the error's code: the node's own, NODE_UNREACHABLE, BAD_RESPONSE) or a key cannot be
    read, 2 on a usage error."""
    from anju.cli.main import _ask, _utf8
    from anju.client import load_key
    from anju.client.sdk import PasswordNeeded
    from anju.crypto.keys import SigningKey
    from anju.crypto.keystore import KeystoreError
    from anju.errors import AnjuError

    fields = _fields(field or [])
    trusting = _trusting(vkey, consortium)
    # (the envelope is canonical JSON, UTF-8: a lone surrogate, from bytes that are not UTF-8 or a
    # JSON string's escape, cannot be in it)
    _utf8(json.dumps({"kind": kind, **fields}, ensure_ascii=False), "--kind or a --field")
    files = [("--key", key), *(("--cosign", p) for p in cosign or [])]

    def load_all(password: str | None) -> list[SigningKey]:
        """Every key, in order; the first that cannot be opened ends the command naming its file
        (a local file problem: a failure, not a usage error). PasswordNeeded for a keystore
        without a password."""
        keys = []
        for option, path in files:
            try:
                keys.append(load_key(path, password))
            except PasswordNeeded:
                raise
            except OSError as exc:  # no such file, a directory, no permission
                fail(
                    f"cannot open the {option} key {path}: {exc.strerror or exc}",
                    1,
                    "FILE_UNREADABLE",
                    as_json=as_json,
                    option=option,
                    path=str(path),
                )
            except UnicodeDecodeError:
                fail(
                    f"cannot open the {option} key {path}: not a key file: it is not text",
                    1,
                    "KEY_FILE_INVALID",
                    as_json=as_json,
                    option=option,
                    path=str(path),
                )
            except (ValueError, KeystoreError) as exc:  # not a key file, a damaged keystore, a wrong password
                if password is not None:  # (only a keystore reads it: a seed file takes any)
                    _utf8(password, "the password")
                code = exc.code if isinstance(exc, KeystoreError) else "KEY_FILE_INVALID"
                fail(
                    f"cannot open the {option} key {path}: {exc}",
                    1,
                    code,
                    as_json=as_json,
                    option=option,
                    path=str(path),
                )
        return keys

    try:
        keys = load_all(password)
    except PasswordNeeded:  # a keystore and no ANJU_PASSWORD: ask once, for all of them
        keys = load_all(_utf8(_ask("Keystore password", as_json=as_json), "the password"))
    signer, cosigners = keys[0], keys[1:]
    try:
        with _client(server, vkey, **trusting) as client:
            receipt = client.send(kind, signer, fields, cosigners=cosigners, wait=not no_wait)
            if not no_wait:
                proven = client.tx(receipt["txid"])
                receipt["verified"] = {
                    "index": proven.index,
                    "height": proven.height,
                    "tree_size": proven.checkpoint.size,
                }
    except AnjuError as exc:
        _failed(exc, as_json)
        raise typer.Exit(1) from None
    _emit(
        receipt,
        as_json,
        _x(
            f"{receipt['status']} {receipt['txid']}"
            + (
                f" at height {receipt.get('height')}, index {receipt.get('index')} (inclusion verified)"
                if receipt["status"] == "committed"
                else ""
            )
        ),
    )


def _trusting(vkey: str | None, consortium: Path | None) -> dict[str, Any]:
    """The AnjuClient options of ``--consortium DIR`` (its members, quorum and key history; beside
    ``--vkey``, a usage error); none without it."""
    if consortium is None:
        return {}
    keys, threshold, history = _consortium_trust(consortium, None, given="--vkey" if vkey is not None else None)
    return {"verifier_keys": keys, "threshold": threshold, "key_history": history}


TX_PENDING_EXIT = 3
"""``tx get``'s exit status for a transaction accepted but not in a block yet (ask again)."""


@tx_app.command("get")
def tx_get(
    txid: Annotated[str, typer.Argument(help="Transaction id: 64 hex digits (as tx send prints it).")],
    server: ServerOpt = DEFAULT_SERVER,
    vkey: VkeyOpt = None,
    consortium: ConsortiumOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fetch a committed transaction and verify its inclusion proof against a signed checkpoint.

    Exit 0 when committed and verified; 3 while it is pending (accepted, not in a block yet: ask
    again); 1 when it was rejected (its own error: SEQ_REUSED, BAD_SIGNATURE, WRONG_ROLE, …), is
    unknown (NOT_FOUND), fails to verify or the node cannot be reached; 2 on a usage error."""
    from rich.markup import escape

    from anju.errors import AnjuError, TxRejected

    if not re.fullmatch("[0-9a-fA-F]{64}", txid):  # (before it is put in a URL)
        fail(f"TXID {txid!a}: a transaction id is 64 hex digits (SHA-256), as tx send prints it", 2)
    txid = txid.lower()  # (the node names transactions in lowercase: one copied in capitals is the same id)
    trusting = _trusting(vkey, consortium)
    try:
        with _client(server, vkey, **trusting) as client:
            p = client.tx(txid)
    except TxRejected as exc:  # (the node's record of it: a rejection it remembers)
        _failed(exc, as_json, "rejected: ", txid=txid, status="rejected")
        raise typer.Exit(1) from None
    except AnjuError as exc:
        if exc.code == "TX_PENDING":
            _emit({"txid": txid, "status": "pending"}, as_json, f"pending {txid}: accepted, not in a block yet")
            raise typer.Exit(TX_PENDING_EXIT) from None
        _failed(exc, as_json)
        raise typer.Exit(1) from None
    out = {
        "txid": p.txid,
        "status": "committed",
        "index": p.index,
        "height": p.height,
        "envelope": p.envelope,
        "checkpoint": {"size": p.checkpoint.size, "height": p.checkpoint.height},
    }
    _emit(
        out,
        as_json,
        f"[green]verified[/green] {p.txid}: {_x(p.envelope['body']['kind'])} at height {p.height}, "
        f"log index {p.index} (proven in tree of size {p.checkpoint.size})\n"
        + escape(json.dumps(p.envelope["body"], ensure_ascii=False, indent=1)),
    )


def _trust(keys: list[str], threshold: int | None, origin: str | None) -> Trust | None:
    """The Trust of ``keys`` (None without keys); a threshold the keys cannot meet is a usage error
    (exit 2), a bad or repeated key a refusal (the caller reports its AnjuError)."""
    from anju.client import Trust

    if not keys:
        if threshold is not None:  # the one key a node reports about itself meets no threshold of members
            fail("--threshold needs the members' keys: give them with --key, or --consortium", 2)
        return None
    try:
        return Trust.of(keys, threshold, origin)
    except ValueError as exc:
        fail(str(exc), 2)


@app.command()
def check(
    target: Annotated[
        str,
        typer.Argument(
            help="A listing verification code, a lease registration number (XH…), or a bundle file (JSON, or a "
            "history in parts: JSON lines)."
        ),
    ],
    server: ServerOpt = DEFAULT_SERVER,
    key: Annotated[
        list[str] | None,
        typer.Option("--key", help="A trusted verifier key (repeat it for a consortium's members)."),
    ] = None,
    threshold: Annotated[
        int | None,
        typer.Option(
            help="How many of the --key members must have signed (default: ⌊2n/3⌋+1 of n keys, 1 of one); "
            "with --consortium, at least its quorum."
        ),
    ] = None,
    consortium: ConsortiumOpt = None,
    date: Annotated[
        str | None,
        typer.Option(
            help="Judge a listing's status or a registration's phase at this date, YYYY-MM-DD (default today, "
            "UTC). A listing's status only from the day of the proof's checkpoint on: its record keeps no "
            "earlier state (an earlier date is refused: BAD_REQUEST, reason date_before_checkpoint). A history "
            "bundle has no status to judge: --date with one is a usage error."
        ),
    ] = None,
    max_age: Annotated[
        float | None,
        typer.Option(
            "--max-age",
            min=0,
            help="Refuse a proof whose checkpoint is more than SECONDS old (a genuine old state shown as current).",
        ),
    ] = None,
    chain_id: Annotated[
        str | None, typer.Option("--chain-id", help="The chain the proof must be of (its checkpoints' origin).")
    ] = None,
    remember: Annotated[
        Path | None,
        typer.Option(
            "--remember",
            help="A file keeping the newest checkpoint verified, from one run to the next: a node that rolled "
            "its ledger back or rewrote its history since is refused. One file per chain and set of keys. A "
            "bundle's checkpoint must agree with it (offline it is read, not advanced).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Verify a listing code, a lease registration or an exported bundle end to end, trusting only the
    published key(s). It says how old the proof is: the time of the checkpoint it rests on.

    Exit 0 when verified, 1 when not (or the node cannot be reached, or the bundle file cannot be
    read), 2 on a usage error."""
    from anju.client import (
        VerifiedHistory,
        VerifiedListing,
        VerifiedRegistration,
        check_fresh,
        is_parts_file,
        load_bundle,
        verify_bundle,
        verify_history_file,
    )
    from anju.client.remember import CheckpointFile, one_history
    from anju.client.sdk import REGISTRATION_NUMBER
    from anju.client.verify import is_date
    from anju.errors import AnjuError

    if date is not None and not is_date(date):
        fail(f"--date {date!r}: not a date (YYYY-MM-DD)", 2)
    keys = list(key or [])
    history: list[list[Any]] = []
    if consortium is not None:
        keys, threshold, history = _consortium_trust(consortium, threshold, given="--key" if keys else None)
    path = Path(target)
    try:
        trust = _trust(keys, threshold, chain_id)
        if trust is not None:
            trust = trust.with_history(history)
        if not target.strip() or path.is_dir():
            fail("give a listing code, a lease registration number (XH…) or a bundle file", 2)
        if path.suffix in (".json", ".jsonl", ".ndjson") or path.exists():
            try:
                parts = is_parts_file(path)
                with path.open("rb") as f:
                    raw = b"" if parts else f.read(MAX_BUNDLE_FILE + 1)  # (not a device's endless bytes)
            except OSError as exc:  # no such file, no permission: a failure, not a usage error
                raise AnjuError(
                    "FILE_UNREADABLE", f"cannot read {path}: {exc.strerror or exc}", path=str(path)
                ) from None
            if len(raw) > MAX_BUNDLE_FILE:
                raise AnjuError(
                    "BUNDLE_TOO_LARGE",
                    f"{path} is larger than a single bundle ({MAX_BUNDLE_FILE >> 20} MiB): "
                    "a history of any size comes in parts (anju-history-parts-v1)",
                    path=str(path),
                )
            bundle = None if parts else load_bundle(raw)
            if date is not None and (parts or (isinstance(bundle, dict) and bundle.get("kind") == "history")):
                fail("--date judges a listing or a registration; a history has no status to judge", 2)
            if trust is None:
                fail("checking a bundle offline needs --key (the node's published verifier key)", 2)
            result: VerifiedListing | VerifiedHistory | VerifiedRegistration
            if parts:  # a history of any size, in parts: read a part at a time
                try:
                    result = verify_history_file(path, trust)
                except OSError as exc:
                    raise AnjuError(
                        "FILE_UNREADABLE", f"cannot read {path}: {exc.strerror or exc}", path=str(path)
                    ) from None
            else:
                result = verify_bundle(bundle, trust, date)
            check_fresh(result.checkpoint, max_age)
            if remember is not None:  # no consistency proof offline: compared, never advanced
                held = CheckpointFile(remember).read(trust.open)
                if held is not None:
                    one_history(held, result.checkpoint)
        else:
            if not keys:
                console.print("[yellow]no --key given: trusting the key the server reports (first use)[/yellow]")
            client = _client(
                server,
                None,
                verifier_keys=keys,
                threshold=threshold,
                max_age=max_age,
                chain_id=chain_id,
                remember=remember,
                **({"key_history": history} if keys else {}),  # (no keys: the node's, with its key)
            )
            with client:
                if REGISTRATION_NUMBER.fullmatch(target):
                    result = client.verify_registration(target, date)
                else:
                    result = client.verify_listing(target, date)
    except AnjuError as exc:
        _failed(exc, as_json, "NOT VERIFIED ", ok=False)
        raise typer.Exit(1) from None
    proven = f"proven as of {result.checkpoint.time}, height {result.checkpoint.height}"
    if isinstance(result, VerifiedListing):
        out = {
            "ok": True,
            "kind": "listing",
            "code": result.code,
            "status": result.status,
            "reason": result.reason,
            "date": result.date,
            "listing": result.listing["id"],
            "unit": result.unit["id"],
            "street": result.unit["street"],
            "rent": result.listing["rent"],
            "publisher": result.listing["publisher"],
            "publisher_role": result.listing["publisher_role"],
            "agent": result.listing.get("agent"),
            "mandate": result.listing.get("mandate"),
            "as_of": result.checkpoint.time,
            "checkpoint": {"size": result.checkpoint.size, "height": result.checkpoint.height},
        }
        colour = "green" if result.live else "yellow"
        human = (
            f"[green]VERIFIED[/green] listing {_x(result.code)}: unit {_x(result.unit['id'])} on "
            f"{_x(result.unit['street'])}, title attested, published by the {_x(result.listing['publisher_role'])}"
            + (f" under mandate {_x(result.listing['mandate'])}" if result.listing.get("mandate") else "")
            + (
                f" through its appointed agent {_x(str(result.listing['agent'])[:16])}…"
                if result.listing.get("agent")
                else ""
            )
            + "; "
            f"status [{colour}]{_x(result.status)}[/{colour}]"
            + (f" ({_x(result.reason)})" if result.reason else "")
            + f" at {_x(result.date)}; {_x(proven)}"
        )
    elif isinstance(result, VerifiedRegistration):
        lease = result.lease
        out = {
            "ok": True,
            "kind": "registration",
            "number": result.number,
            "phase": result.phase,
            "date": result.date,
            "lease": lease["id"],
            "start": lease["start"],
            "ends_on": lease["ends_on"],
            "tenant": lease["tenant"],
            "registered_on": result.registered_on,
            "as_of": result.checkpoint.time,
            "district": result.unit["district"],
            "street": result.unit["street"],
            "neighbourhood": result.unit["neighbourhood"],
            "checkpoint": {"size": result.checkpoint.size, "height": result.checkpoint.height},
        }
        human = "[green]VERIFIED[/green] " + _x(
            f"lease registration {result.number} (registered {result.registered_on} by the "
            f"housing authority): lease {lease['id']}, {lease['start']} to {lease['ends_on']}, "
            f"{result.unit['street']} · {result.unit['neighbourhood']}, tenant {lease['tenant'][:16]}…; "
            f"{result.phase} on {result.date}; {proven}"
        )
    else:
        assert isinstance(result, VerifiedHistory)
        out = {
            "ok": True,
            "kind": "history",
            "party": result.party,
            "score": result.score,
            "leases": len(result.leases),
            "payments": len(result.payments),
            "payments_by_receiver": result.payment_counts,
            "identity": result.identity,
            "identity_attested": result.identity_attested,
            "as_of": result.checkpoint.time,
            "checkpoint": {"size": result.checkpoint.size, "height": result.checkpoint.height},
        }
        pc = result.payment_counts
        human = (
            f"[green]VERIFIED[/green] rental history of {_x(result.party[:16])}…: {len(result.leases)} leases, "
            f"{len(result.payments)} payments ({pc['confirmed']} confirmed by their receiver, {pc['waiting']} "
            f"waiting, {pc['refused']} refused as never received), credit score {_x(result.score)}; {_x(proven)}"
        )
        if result.identity is not None:
            shown = _x(ascii(result.identity)[1:-1] if not result.identity.isprintable() else result.identity)
            human += f"\nidentity disclosed by the party (it opens the party's ledger commitment): {shown}\n" + (
                "the housing authority attested this party's identity"
                if result.identity_attested
                else "[red]NOT attested by the housing authority: a claim, not proof of who holds this key[/red]"
            )
    _emit(out, as_json, human)
    sys.stdout.flush()


unwrap_help(app)  # (last: this module's commands too, whichever module was imported first)
