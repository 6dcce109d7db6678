"""The ``anju`` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from anju import __version__

app = typer.Typer(help="Anju (安居): a housing-rental service platform on a verifiable ledger.", no_args_is_help=True)
keys_app = typer.Typer(help="Create and inspect Ed25519 keys and keystores.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
console = Console(stderr=True)  # progress, prompts, warnings and errors
results = Console(soft_wrap=True)  # what a command answers (stdout: `KEY=$(anju keys show …)` captures it)

DataOpt = Annotated[Path, typer.Option("--data", help="The node's data directory.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def fail(
    message: str, exit_code: int, code: str | None = None, *, as_json: bool = False, **details: object
) -> NoReturn:
    """End the command: ``message`` as one red line on stderr (as it is: no markup, never wrapped),
    ``CODE: message`` when it has a ``code`` (as a node's refusals are printed: the stable code a
    user can look up in docs/PROTOCOL.md and a script can match), exit status ``exit_code`` (2 a
    usage error, 1 a refusal or failure). A failure with a ``code``
    in a command given ``--json`` (``as_json``) is instead the error object ``{"error": {"code",
    "message", "details"}}`` on stdout, as a node's refusals are: a script reads every failure the
    same way."""
    if code is not None and as_json:
        from anju.errors import AnjuError

        _emit(AnjuError(code, message, **details).to_json(), True, message)
        raise typer.Exit(exit_code)
    console.print(message if code is None else f"{code}: {message}", style="red", markup=False, soft_wrap=True)
    raise typer.Exit(exit_code)


def _emit(obj: object, as_json: bool, human: str, *, error: bool = False) -> None:
    """A command's answer: ``obj`` as JSON on stdout with ``--json``, else ``human`` (rich markup) on
    stdout, or on stderr when it reports a failure (``error``: the command then exits non-zero)."""
    if as_json:
        sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=1) + "\n")
    else:
        (console if error else results).print(human, soft_wrap=True)


def _ask(text: str, *, confirm: bool = False, as_json: bool = False) -> str:
    """Ask for a secret ``text`` on stderr (stdout carries only answers, so ``--json`` stays JSON):
    hidden input on a terminal; from a pipe, the next non-empty line (two equal ones with ``confirm``)."""
    if sys.stdin.isatty():
        return str(typer.prompt(text, hide_input=True, confirmation_prompt=confirm, err=True))

    def line(prompt: str) -> str:
        sys.stderr.write(f"{prompt}: ")
        sys.stderr.flush()
        while (got := sys.stdin.readline()) and not got.rstrip("\r\n"):
            pass
        sys.stderr.write("\n")  # (nothing echoed the answer: what follows starts a line of its own)
        if not got:
            fail("no input: aborted", 1, "INPUT_ABORTED", as_json=as_json)
        return got.rstrip("\r\n")

    value = line(text)
    if confirm and line("Repeat for confirmation") != value:
        fail("the two entered values do not match", 1, "INPUT_ABORTED", as_json=as_json)
    return value


def _utf8(value: str, what: str) -> str:
    """``value`` when it is UTF-8 text; else the command ends (exit 2) saying ``what`` is not. (An
    argument, a variable or a line read that is not UTF-8 reaches Python with lone surrogates in
    place of its bytes, which then fail to encode, deep in a key derivation or a hash.)"""
    try:
        value.encode()
    except UnicodeEncodeError:
        fail(f"{what} is not UTF-8 text", 2)
    return value


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


@app.command()
def init(
    data: DataOpt,
    chain_id: Annotated[
        str,
        typer.Option(help="The chain id (also the checkpoint origin): printable, without spaces or '+'."),
    ] = "anju-xuhui-1",
    app_name: Annotated[str, typer.Option("--app", help="Application: anju-registry or kv.")] = "anju-registry",
    authority: Annotated[
        str | None,
        typer.Option(
            help="Public key of the housing authority, 64 hex digits (required for anju-registry; "
            "refused for kv, which has no authority)."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a new ledger: genesis document, node key and block 0.

    Every option is checked before anything is written: a bad one exits 2 (as does a DATA that is
    not a directory), a DATA that already holds a ledger or cannot be written exits 1. With --json
    a failure prints {"error": {"code", "message", "details"}} on stdout: INVALID_FIELD for a bad
    option (details.option names it), LEDGER_EXISTS, STORAGE_UNAVAILABLE, NODE_KEY_INVALID.

    A node.key already in DATA (an interrupted init's, or one made beforehand and published) is kept
    and signs the new ledger; one that is not a valid node key file is refused (exit 1). So is a
    genesis.json there, unless it is an interrupted init's (the same chain id, application and
    parameters: kept, with its time)."""
    import sqlite3

    from anju.chain.apps import APPS
    from anju.chain.node import DB_NAME, init_ledger, read_node_key
    from anju.errors import AnjuError
    from anju.ledger.note import valid_name, vkey_of
    from anju.registry.machine import genesis_params

    def refuse(exit_code: int, message: str, code: str = "INVALID_FIELD", **details: object) -> NoReturn:
        fail(message, exit_code, code, as_json=as_json, **details)  # one line, however narrow the terminal

    if app_name not in APPS:
        refuse(2, f"--app must be one of {', '.join(sorted(APPS))}: {app_name!r}", option="--app")
    if not valid_name(chain_id) or not chain_id.isprintable():
        refuse(
            2,
            "--chain-id must be non-empty and printable, without spaces or '+' (it is the checkpoint "
            f"origin): {chain_id!r}",
            option="--chain-id",
        )
    params: dict[str, object] = {}
    if app_name == "anju-registry":
        if authority is None:
            refuse(2, "--authority HEXKEY is required for the registry application", option="--authority")
        key = authority.lower()
        if len(key) != 64 or key.strip("0123456789abcdef"):
            refuse(
                2,
                f"--authority must be a public key of 64 hex digits: {authority!r}",
                option="--authority",
            )
        params = genesis_params(key)
    elif authority is not None:
        refuse(
            2, f"--authority is for the anju-registry application; a {app_name} ledger has none", option="--authority"
        )
    try:
        APPS[app_name]().check_params(params)
    except ValueError as exc:
        refuse(2, f"bad genesis parameters: {exc}", option="--authority")
    if data.exists() and not data.is_dir():
        refuse(2, f"--data {data} is not a directory", option="--data")
    exists = f"{data} already holds a ledger ({data / DB_NAME}): give another --data"
    if (data / DB_NAME).exists():
        refuse(1, exists, "LEDGER_EXISTS", data=str(data))
    try:
        init_ledger(data, chain_id=chain_id, app=app_name, params=params)
    except FileExistsError:
        if (data / DB_NAME).exists():  # made meanwhile
            refuse(1, exists, "LEDGER_EXISTS", data=str(data))
        refuse(1, f"cannot create a ledger in {data}: {data} is not a directory", "STORAGE_UNAVAILABLE", data=str(data))
    except OSError as exc:  # a parent that is a file, no permission, a full disk
        where = f"{exc.filename}: " if exc.filename and str(exc.filename) != str(data) else ""
        reason = f"{where}{exc.strerror or exc}"
        refuse(1, f"cannot create a ledger in {data}: {reason}", "STORAGE_UNAVAILABLE", data=str(data))
    except sqlite3.Error as exc:  # SQLite's own report of the same (a full disk, an I/O error)
        refuse(1, f"cannot create a ledger in {data}: {exc}", "STORAGE_UNAVAILABLE", data=str(data))
    except AnjuError as exc:  # NODE_KEY_INVALID: a node.key there that it keeps and cannot use
        refuse(1, exc.message, exc.code, **exc.details)
    vkey = vkey_of(chain_id, read_node_key(data).public)
    _emit(
        {"data": str(data), "chain_id": chain_id, "verifier_key": vkey},
        as_json,
        f"created ledger [bold]{escape(chain_id)}[/bold] in {escape(str(data))}\nverifier key: {escape(vkey)}",
    )


@app.command()
def verify(
    data: DataOpt,
    key: Annotated[str | None, typer.Option("--key", help="Trusted verifier key (default: the ledger's own).")] = None,
    workers: Annotated[int, typer.Option(help="Signature-verifying processes (0 or 1: none).", min=0, max=64)] = 2,
    as_json: JsonOpt = False,
) -> None:
    """Replay the whole ledger from genesis and re-check everything; exit 1 on the first error, 2 when
    DATA holds no ledger."""
    from anju.chain.verify import verify_data
    from anju.errors import VerificationError
    from anju.ledger.note import Verifier

    if key is not None:
        try:
            Verifier.from_vkey(key)
        except VerificationError as exc:
            raise typer.BadParameter(f"not a verifier key: {exc.message}", param_hint="--key") from None

    with Progress(
        TextColumn("verifying"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=as_json or not console.is_terminal,  # (elsewhere it leaves a blank line on stderr)
        transient=True,
    ) as bar:
        task = bar.add_task("blocks", total=None)
        summary = verify_data(
            data, trusted_vkey=key, workers=workers, progress=lambda h, t: bar.update(task, completed=h, total=t)
        )
    out = {
        "ok": summary.ok,
        "chain_id": summary.chain_id,
        "height": summary.height,
        "transactions": summary.transactions,
        "log_root": summary.log_root,
        "state_root": summary.state_root,
        "seconds": round(summary.seconds, 3),
        "error": summary.error,
        "error_height": summary.error_height,
        "details": {k: str(v) for k, v in summary.details.items()},
        "verifier_key": summary.verifier_key,
        "key_source": "given" if summary.key_trusted else "ledger",
    }
    if summary.ok:
        whose = (
            "the key given with --key"
            if summary.key_trusted
            else "the key the ledger itself names: compare it with the one its operator publishes, or pass --key"
        )
        _emit(
            out,
            as_json,
            f"[green]OK[/green] {escape(summary.chain_id)}: heights 0..{summary.height}, "
            f"{summary.transactions} transactions, log root {summary.log_root[:16]}…, "
            f"state root {summary.state_root[:16]}…, {summary.seconds:.2f} s\n"
            f"checkpoints signed by {escape(summary.verifier_key)} ({whose})",
        )
        return
    if summary.no_ledger:
        _emit(out, as_json, f"[red]{escape(str(summary.error))}[/red]", error=True)
    elif summary.error_height is None:  # the file, its schema or the directory: no height to name
        _emit(out, as_json, f"[red]FAILED[/red]: {escape(str(summary.error))}", error=True)
    else:
        _emit(
            out,
            as_json,
            f"[red]FAILED[/red] at height {summary.error_height}: {escape(str(summary.error))}",
            error=True,
        )
    raise typer.Exit(summary.exit_code)


PasswordOpt = Annotated[
    str | None,
    typer.Option(envvar="ANJU_PASSWORD", show_envvar=True, help="The keystore's password (asked for when not given)."),
]


@keys_app.command("new")
def keys_new(
    out: Annotated[Path, typer.Option("--out", help="Keystore file to write (never over an existing file).")],
    password: PasswordOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Generate a key and save it in a password-protected keystore (argon2id), readable by its owner only."""
    from anju.crypto import keystore
    from anju.crypto.keys import SigningKey

    if out.exists() or out.is_symlink():
        fail(f"{out} exists: give another --out (a keystore is never overwritten)", 2)
    if not out.parent.is_dir():
        fail(f"--out {out}: {out.parent} is not a directory", 2)
    if password is None:
        password = _ask("Password", confirm=True, as_json=as_json)
    _utf8(password, "the password")
    key = SigningKey.generate()
    try:
        keystore.save(out, key, password)
    except FileExistsError:  # made meanwhile
        fail(f"{out} exists: give another --out (a keystore is never overwritten)", 2)
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}", 1, "FILE_UNWRITABLE", path=str(out), as_json=as_json)
    _emit(
        {"public_key": key.public_hex, "keystore": str(out)},
        as_json,
        f"public key {key.public_hex}\nsaved {escape(str(out))}",
    )


@keys_app.command("show")
def keys_show(
    path: Annotated[Path, typer.Argument(help="Keystore or key file (a node.key, a hex seed).")],
    password: PasswordOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print a key file's public key, unlocking a keystore (its password is asked for only then).

    Reads what tx send --key reads: a keystore, a node key file, a bare hex seed."""
    from anju.client.sdk import PasswordNeeded, parse_key_file
    from anju.crypto import keystore
    from anju.crypto.keys import SigningKey

    def refuse(message: str, code: str) -> NoReturn:
        fail(message, 1, code, path=str(path), as_json=as_json)

    if password is not None:
        _utf8(password, "the password")
    try:  # the file first: a password is not asked for a file that is not there, or needs none
        text = path.read_text()
    except OSError as exc:  # no such file, a directory, no permission
        refuse(f"cannot read keystore {path}: {exc.strerror or exc}", "FILE_UNREADABLE")
    except UnicodeDecodeError:
        refuse(f"cannot read keystore {path}: not a key file: it is not text", "KEY_FILE_INVALID")

    def opened(password: str | None) -> SigningKey:
        try:
            return parse_key_file(text, password)
        except PasswordNeeded:
            raise
        except keystore.KeystoreError as exc:  # a damaged keystore, a wrong password
            refuse(str(exc), exc.code)
        except ValueError as exc:  # neither a keystore nor a key file
            refuse(f"cannot read keystore {path}: {exc}", "KEY_FILE_INVALID")

    try:
        key = opened(password)
    except PasswordNeeded:  # a keystore, and no ANJU_PASSWORD
        key = opened(_utf8(_ask("Password", as_json=as_json), "the password"))
    _emit({"public_key": key.public_hex}, as_json, key.public_hex)


@keys_app.command("commit")
def keys_commit(
    text: Annotated[
        str | None,
        typer.Argument(help="What to commit to; omit it to be asked (so it stays out of shell history)."),
    ] = None,
    salt: Annotated[str | None, typer.Option(help="Check against this salt (hex) instead of drawing one.")] = None,
    commitment: Annotated[str | None, typer.Option(help="With --salt: the commitment to check.")] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            help="Read the text from this UTF-8 file instead (a lease contract: line breaks as \\n, no "
            "whitespace around it, as the portal commits to one).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """A salted commitment for the ledger (party.register, unit addresses, a lease's contract):
    SHA-256(salt ‖ text).

    Keep the text and the printed salt: showing both proves what the commitment stands for. A
    contract offered in the portal: `anju keys commit --file CONTRACT --salt S --commitment C`
    checks a copy against the lease's document_hash (the salt is on the offer's page)."""
    from anju.crypto.commitments import commit, document_text, opens

    if file is not None:
        if text is not None:
            fail("give the text or --file, not both", 2)
        try:
            text = document_text(file.read_bytes().decode("utf-8"))
        except OSError as exc:
            fail(f"cannot read {file}: {exc.strerror or exc}", 2)
        except UnicodeDecodeError:
            fail(f"{file} is not UTF-8 text", 2)
    if text is None:
        text = _ask("Text to commit to", as_json=as_json)
    _utf8(text, "the text to commit to")
    if commitment is not None:
        if salt is None:
            fail("--commitment needs the --salt it was made with", 2)
        good = opens(commitment, text, salt)
        _emit(
            {"opens": good},
            as_json,
            "[green]opens the commitment[/green]" if good else "[red]does not open it[/red]",
            error=not good,
        )
        raise typer.Exit(0 if good else 1)
    try:
        salt_hex, value = commit(text, salt)
    except ValueError:
        fail("--salt must be 16 bytes of hex (32 characters)", 2)
    _emit({"salt": salt_hex, "commitment": value}, as_json, f"commitment {value}\nsalt       {salt_hex}  (keep it)")


@keys_app.command("disclose")
def keys_disclose(
    bundle: Annotated[Path, typer.Argument(help="Your history bundle (GET /api/v1/parties/<key>/history).")],
    salt: Annotated[
        str | None,
        typer.Option(help="The salt your identity commitment was made with (hex); omit it to be asked."),
    ] = None,
    identity: Annotated[
        str | None,
        typer.Option(help="The text you committed to; omit it to be asked (so it stays out of shell history)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Where to write it (default: BUNDLE with .disclosed.json; never overwritten).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add your own disclosure of who you are to your history bundle, for a landlord you choose:
    `anju check` then shows the identity, proven to open the commitment the ledger holds."""
    import os

    from anju.client.verify import disclose

    if identity is None:
        identity = _ask("Identity text you committed to", as_json=as_json)
    _utf8(identity, "the identity text")
    if salt is None:
        salt = _ask("Its salt", as_json=as_json)
    if out is not None and not out.parent.is_dir():
        fail(f"--out {out}: {out.parent} is not a directory", 2)
    try:
        raw = bundle.read_bytes()
    except OSError as exc:  # no such file, a directory, no permission
        fail(f"cannot read {bundle}: {exc.strerror or exc}", 1, "FILE_UNREADABLE", path=str(bundle), as_json=as_json)
    try:
        disclosed = disclose(orjson.loads(raw), identity, salt)
    except (orjson.JSONDecodeError, AttributeError, TypeError) as exc:
        fail(f"{bundle} is not a readable bundle: {exc}", 1, "PROOF_INVALID", path=str(bundle), as_json=as_json)
    except ValueError as exc:  # not a history, a malformed salt, an identity that does not open the commitment
        fail(str(exc), 1, "INVALID_FIELD", as_json=as_json)
    target = out or bundle.with_name(bundle.name.removesuffix(".json") + ".disclosed.json")
    try:  # personal data: readable by its owner only, and never over another file
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        fail(f"{target} exists: give another --out", 2)
    except OSError as exc:  # a directory removed meanwhile, no permission, a full disk
        fail(f"cannot write {target}: {exc.strerror or exc}", 1, "FILE_UNWRITABLE", path=str(target), as_json=as_json)
    with os.fdopen(fd, "wb") as f:
        f.write(orjson.dumps(disclosed, option=orjson.OPT_INDENT_2))
    _emit({"written": str(target)}, as_json, f"written {escape(str(target))} (show it only to whom you choose)")


bench_app = typer.Typer(help="Benchmarks: print JSON and write bench/results/<name>.json.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


@bench_app.command("ledger")
def bench_ledger(
    txs: Annotated[int, typer.Option(help="Signed transactions to push through.")] = 150_000,
    large: Annotated[
        bool, typer.Option("--large", help="Also measure with 10^7 transactions already in the log.")
    ] = False,
    out: Annotated[Path, typer.Option(help="Where to write the JSON.")] = Path("bench/results/ledger.json"),
) -> None:
    """The ledger benchmark: signed transactions to durable, signed commit."""
    from anju.bench.ledger import run

    _write(out, run(txs=txs, large=large, console=console))


def _write(out: Path, result: dict[str, object]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    sys.stdout.write(json.dumps(result) + "\n")


@bench_app.command("api")
def bench_api(
    txs: Annotated[int, typer.Option(help="Signed transactions submitted over HTTP.")] = 120_000,
    clients: Annotated[int, typer.Option(help="Concurrent HTTP clients for single POSTs.")] = 64,
    batch_clients: Annotated[int, typer.Option(help="Concurrent HTTP clients sending batches of 500.")] = 48,
    subscribers: Annotated[int, typer.Option(help="Concurrent event-stream subscribers.")] = 1000,
    listings: Annotated[int, typer.Option(help="Listings in the registry for the verify-code figures.")] = 100_000,
    out: Annotated[Path, typer.Option(help="Where to write the JSON.")] = Path("bench/results/api.json"),
) -> None:
    """HTTP API benchmark: api_tps, limit_tps, api_ratio, verify_code_p99_ms, event_p99_ms."""
    from anju.bench.api import run

    result = run(
        console, txs=txs, clients=clients, batch_clients=batch_clients, subscribers=subscribers, listings=listings
    )
    _write(out, result)


@bench_app.command("verify-codes")
def bench_verify_codes(
    listings: Annotated[int, typer.Option(help="Live listings in the registry.")] = 1_000_000,
    codes: Annotated[int, typer.Option(help="Verification codes checked (random sample).")] = 1000,
    data: Annotated[
        Path | None, typer.Option(help="Keep (or reuse) the registry here; a temporary directory if unset.")
    ] = None,
    out: Annotated[Path, typer.Option(help="Where to write the JSON.")] = Path("bench/results/verify_codes.json"),
) -> None:
    """Listing verification with full proofs (verify_code_p99_ms) on a registry of 10^6 listings."""
    import os
    import tempfile

    from anju.bench.api import verify_codes

    with tempfile.TemporaryDirectory(prefix="anju-bench-codes-") as tmp:
        result = verify_codes(data or Path(tmp) / "registry", listings, codes, console)
    result = {"benchmark": "verify_codes", **result, "load_average": [round(x, 2) for x in os.getloadavg()]}
    _write(out, result)


@bench_app.command("registry")
def bench_registry(
    units: Annotated[int, typer.Option(help="Attested units set up before the measured run.")] = 100_000,
    txs: Annotated[int, typer.Option(help="Transactions of the measured mix.")] = 100_000,
    out: Annotated[Path, typer.Option(help="Where to write the JSON.")] = Path("bench/results/registry.json"),
) -> None:
    """The registry benchmark: a realistic transaction mix on a registry of many units."""
    from anju.bench.registry import run

    _write(out, run(units=units, txs=txs, console=console))


@bench_app.command("all")
def bench_all() -> None:
    """The ledger, registry and API benchmarks, one after the other (`make bench`); `bench
    verify-codes` and `bench consortium` run alone."""
    bench_ledger(txs=150_000, large=False, out=Path("bench/results/ledger.json"))
    bench_registry(units=100_000, txs=100_000, out=Path("bench/results/registry.json"))
    bench_api(txs=30_000, clients=64, subscribers=1000, listings=100_000, out=Path("bench/results/api.json"))


def unwrap_help(typer_app: typer.Typer) -> None:
    """Give every command of ``typer_app`` (and of its groups) its docstring as help with the lines of
    each paragraph joined: Typer prints a help text's single line breaks as they are, so a docstring
    wrapped at 100 columns showed, in ``--help`` and in the command list of ``anju --help``, as
    lines broken mid-sentence ("exit 1 on the first error, 2 when" / "DATA holds no ledger.").
    Paragraphs (blank lines) stay. Idempotent: each module registering commands calls it last."""
    import inspect

    for info in typer_app.registered_commands:
        doc = info.help if info.help is not None else inspect.getdoc(info.callback)
        if doc:
            info.help = "\n\n".join(" ".join(p.split()) for p in inspect.cleandoc(doc).split("\n\n"))
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            unwrap_help(group.typer_instance)


from anju.cli import consortium_cmds as _consortium_cmds  # noqa: E402,F401  (registers consortium, bench consortium)
from anju.cli import serve_cmds as _serve_cmds  # noqa: E402,F401  (registers serve, demo, tx, check)

unwrap_help(app)

if __name__ == "__main__":
    # Run the module's registered copy of ``app`` (``python -m`` would otherwise see a second one).
    from anju.cli.main import app as _registered

    _registered()
