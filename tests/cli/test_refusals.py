"""A refusal is one line on stderr, printed as it is: a path or a name holding ``[bold]`` is not
rich markup (it was swallowed: ``g[bold]x`` showed as ``gx``). Exit 2 for a usage error, 1 for a
refusal or a failure, a local file that cannot be read included; never a traceback."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.cli.anju_run import run_anju

MARKUP = "g[bold]x[red]y"


@pytest.fixture()
def odd(tmp_path: Path) -> Path:
    """A directory whose name reads as rich markup."""
    path = tmp_path / MARKUP
    path.mkdir()
    return path


def _one_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_a_missing_keystore_is_named_as_it_is(odd: Path) -> None:
    missing = odd / "auth.json"
    out = run_anju("keys", "show", str(missing), "--password", "x")
    assert out.returncode == 1 and not out.stdout, out
    assert str(missing) in _one_line(out.stderr) and _one_line(out.stderr).startswith(
        "FILE_UNREADABLE: cannot read keystore"
    )


def test_a_key_that_cannot_be_read_is_a_failure_not_a_usage_error(odd: Path) -> None:
    """Exit 1 (it was 2, as for a malformed option), before any node is asked."""
    missing = odd / "auth.json"
    out = run_anju("tx", "send", "--kind", "kv.put", "--key", str(missing), "--server", "http://127.0.0.1:9")
    assert out.returncode == 1 and not out.stdout, out
    line = _one_line(out.stderr)
    assert line == f"FILE_UNREADABLE: cannot open the --key key {missing}: No such file or directory", line


def test_disclose_names_its_files_as_they_are(odd: Path) -> None:
    bundle = odd / "history.json"
    args = ("keys", "disclose", "--salt", "00" * 16, "--identity", "me")
    out = run_anju(*args, str(bundle))
    assert out.returncode == 1, out  # a file that cannot be read: a failure (was 2)
    assert _one_line(out.stderr) == f"FILE_UNREADABLE: cannot read {bundle}: No such file or directory"
    bundle.write_text("[not json")
    out = run_anju(*args, str(bundle))
    assert out.returncode == 1 and _one_line(out.stderr).startswith(
        f"PROOF_INVALID: {bundle} is not a readable bundle"
    ), out
    nowhere = odd / "no" / "out.json"
    out = run_anju(*args, str(bundle), "--out", str(nowhere))
    assert out.returncode == 2, out  # a bad --out is a usage error, as for keys new
    assert _one_line(out.stderr) == f"--out {nowhere}: {nowhere.parent} is not a directory"


def test_keys_new_refuses_an_existing_file_named_as_it_is(odd: Path) -> None:
    there = odd / "[red]auth.json"
    there.write_text("mine")
    out = run_anju("keys", "new", "--out", str(there), ANJU_PASSWORD="x")
    assert out.returncode == 2 and not out.stdout, out
    assert _one_line(out.stderr) == f"{there} exists: give another --out (a keystore is never overwritten)"
    assert there.read_text() == "mine"


def test_keys_commit_usage_errors_are_one_line() -> None:
    out = run_anju("keys", "commit", "text", "--commitment", "ab" * 32)
    assert out.returncode == 2 and _one_line(out.stderr) == "--commitment needs the --salt it was made with", out
    out = run_anju("keys", "commit", "text", "--salt", "[bold]")
    assert out.returncode == 2 and _one_line(out.stderr) == "--salt must be 16 bytes of hex (32 characters)", out


def test_init_and_verify_name_the_directory_as_it_is(odd: Path) -> None:
    data = odd / "ledger"
    made = run_anju("init", "--data", str(data), "--app", "kv", "--chain-id", "odd-[b]-1")
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith(f"created ledger odd-[b]-1 in {data}\n"), made.stdout
    ok = run_anju("verify", "--data", str(data))
    assert ok.returncode == 0 and ok.stdout.startswith("OK odd-[b]-1: heights 0..0"), ok
    (data / "ledger.db").write_bytes(b"not a database" * 100)
    bad = run_anju("verify", "--data", str(data))
    assert bad.returncode == 1 and str(data / "ledger.db") in bad.stderr, bad


def test_serve_on_a_damaged_ledger_is_one_line(odd: Path) -> None:
    """A ledger.db that is not a SQLite database: it was a traceback."""
    (odd / "ledger.db").write_bytes(b"not a database" * 100)
    (odd / "genesis.json").write_text("{}")
    out = run_anju("serve", "--data", str(odd), "--port", "1")
    assert out.returncode == 1 and not out.stdout, out
    assert _one_line(out.stderr) == f"cannot serve {odd}: {odd / 'ledger.db'}: file is not a database"


def test_check_with_a_consortium_directory_that_is_not_one(odd: Path) -> None:
    """A --consortium without consortium.json: a bad option value (exit 2), as a --data without a ledger."""
    out = run_anju("check", "XYZ", "--consortium", str(odd), "--json")
    assert out.returncode == 2 and not out.stdout, out
    line = _one_line(out.stderr)
    assert line.startswith(str(odd / "consortium.json")) and "not found" in line, line


def test_a_refusal_with_details_shows_them_as_they_are(odd: Path) -> None:
    """An AnjuError's details (here a key's name) are not markup either; with --json they are the
    error object on stdout and nothing on stderr."""
    bundle = odd / "b.json"
    bundle.write_text(json.dumps({"kind": "history", "party": "ab" * 32}))
    key = "x[bold]y+00000000+" + "A" * 44
    out = run_anju("check", str(bundle), "--key", key)
    assert out.returncode == 1 and not out.stdout, out
    assert out.stderr.startswith("NOT VERIFIED CHECKPOINT_INVALID") and "name: x[bold]y\n" in out.stderr, out
    out = run_anju("check", str(bundle), "--key", key, "--json")
    assert out.returncode == 1 and not out.stderr, out
    assert json.loads(out.stdout)["error"]["details"]["name"] == "x[bold]y"


def test_serve_with_a_damaged_node_key_is_one_line(odd: Path) -> None:
    """A node.key without its seed: it was a KeyError traceback."""
    data = odd / "ledger"
    assert run_anju("init", "--data", str(data), "--app", "kv").returncode == 0
    (data / "node.key").write_text('{"public_key": "00"}')
    out = run_anju("serve", "--data", str(data), "--port", "1")
    assert out.returncode == 1 and not out.stdout, out
    assert _one_line(out.stderr) == (
        f"cannot serve {data}: NODE_KEY_INVALID: {data / 'node.key'} is not a valid node key file "
        "(ed25519_seed is not 64 hex digits)"
    )


def _smash(offset: int, data: bytes) -> Callable[[Path], None]:
    def smash(db: Path) -> None:
        with db.open("r+b") as f:
            f.seek(offset)
            f.write(data)

    return smash


DAMAGED_LEDGERS: dict[str, tuple[Callable[[Path], None], str]] = {
    "a text file": (lambda db: db.write_text("not a database\n"), "is not a SQLite database (SQLite: file is not"),
    "truncated": (lambda db: os.truncate(db, db.stat().st_size // 2), "is damaged (SQLite: database disk image"),
    "a page overwritten": (_smash(3 * 4096, b"\xff" * 4096), "is damaged (SQLite: database disk image"),
    "a cell pointer overwritten": (_smash(2 * 4096 + 8, b"\x7f\x01\x33"), "is damaged: it fails SQLite's integrity"),
}


@pytest.mark.parametrize(("damage", "says"), list(DAMAGED_LEDGERS.values()), ids=list(DAMAGED_LEDGERS))
def test_verify_of_a_ledger_file_that_is_not_a_database_or_is_damaged(
    tmp_path: Path, damage: Callable[[Path], None], says: str
) -> None:
    """One line naming the file and what is wrong, exit 1; with --json the summary, its error the
    same and its details naming the file. It was "FAILED at height None: …" after a blank line (the
    progress bar's, on a stderr that is no terminal), or "malformed record after height -1" for a
    file SQLite could open but not read."""
    data = tmp_path / "ledger"
    assert run_anju("init", "--data", str(data), "--app", "kv").returncode == 0
    db = data / "ledger.db"
    damage(db)
    out = run_anju("verify", "--data", str(data), "--workers", "1")
    assert out.returncode == 1 and not out.stdout, out
    line = _one_line(out.stderr)
    assert out.stderr == line + "\n" and line.startswith(f"FAILED: {db} {says}"), out.stderr
    out = run_anju("verify", "--data", str(data), "--workers", "1", "--json")
    assert out.returncode == 1 and not out.stderr, out
    summary = json.loads(out.stdout)
    assert summary["ok"] is False and summary["error"] == line.removeprefix("FAILED: "), summary
    assert summary["error_height"] is None and summary["details"]["file"] == str(db), summary


def _keystore(path: Path, password: str) -> None:
    from anju.crypto import keystore
    from anju.crypto.keys import SigningKey

    fast = {"opslimit": 1, "memlimit": 8192}  # (the least argon2id allows: the reader accepts it)
    path.write_text(json.dumps(keystore.encrypt(SigningKey(b"c" * 32), password, **fast)))


BAD_KEY_FILES: dict[str, tuple[Callable[[Path], None], str]] = {  # what the line says; its code is CODES[...]
    "missing": (lambda p: None, "No such file or directory"),
    "a directory": (lambda p: p.mkdir(), "Is a directory"),
    "empty": (lambda p: p.write_text("\n"), "not a key file: it is empty"),
    "not text": (lambda p: p.write_bytes(b"\xff\xfe\x00"), "not a key file: it is not text"),
    "text": (lambda p: p.write_text("hello\n"), "not a key file: neither a JSON object nor a hex seed"),
    "a short seed": (lambda p: p.write_text("abcd\n"), "not a key file: a seed is 64 hex digits"),
    "broken JSON": (lambda p: p.write_text('{"ed25519_seed": '), "not a key file: not JSON"),
    "another JSON object": (lambda p: p.write_text('{"x": 1}'), "not a key file: a JSON object without"),
    "a seed that is not hex": (lambda p: p.write_text('{"seed": "zz"}'), "not a key file: its seed is not"),
    "JSON nested too deep": (lambda p: p.write_text('{"a": ' * 100_000), "not a key file: not JSON"),
    "a wrong password": (lambda p: _keystore(p, "right"), "wrong password, or the keystore was altered"),
    "a damaged keystore": (
        lambda p: p.write_text('{"anju_keystore": 1, "kdf": "argon2id"}'),
        "damaged keystore",
    ),
}


@pytest.mark.parametrize(("make", "says"), list(BAD_KEY_FILES.values()), ids=list(BAD_KEY_FILES))
def test_tx_send_names_the_cosigner_key_that_cannot_be_opened(
    odd: Path, make: Callable[[Path], None], says: str
) -> None:
    """Which of the key files failed, and why, in one line (exit 1, before any node is asked): it
    said "cannot open the key: non-hexadecimal number found in fromhex() arg at position 0"."""
    good = odd / "signer.key"
    good.write_text(SEED)
    bad = odd / "cosigner.key"
    make(bad)
    send = ("tx", "send", "--kind", "kv.put", "--key", str(good), "--server", "http://127.0.0.1:9")
    out = run_anju(*send, "--cosign", str(good), "--cosign", str(bad), ANJU_PASSWORD="wrong")
    assert out.returncode == 1 and not out.stdout, out
    line = _one_line(out.stderr)
    code = (
        "FILE_UNREADABLE"
        if says in ("No such file or directory", "Is a directory")
        else ("KEYSTORE_PASSWORD" if "password" in says else "KEY_FILE_INVALID")
    )
    assert line.startswith(f"{code}: cannot open the --cosign key {bad}: ") and says in line, line
    if "password" in says:  # asked for (no ANJU_PASSWORD): the prompt's line is ended before the error
        out = run_anju(*send, "--cosign", str(bad), stdin="wrong\n")
        assert out.returncode == 1 and out.stderr.splitlines()[1:] == [line], out.stderr


SEED = "ab" * 32


def test_keys_show_of_a_file_nested_too_deep_is_one_line(odd: Path) -> None:
    """JSON nested deeper than Python's recursion limit: it was a RecursionError traceback."""
    deep = odd / "auth.json"
    deep.write_text('{"a": ' * 100_000)
    out = run_anju("keys", "show", str(deep), "--password", "x")
    assert out.returncode == 1 and not out.stdout, out
    line = _one_line(out.stderr)
    assert line.startswith(f"KEY_FILE_INVALID: cannot read keystore {deep}: ") and "nested too deep" in line, line
    out = run_anju("keys", "show", str(deep), "--password", "x", "--json")
    assert out.returncode == 1 and "Traceback" not in out.stderr, out
    assert json.loads(out.stdout)["error"] == {
        "code": "KEY_FILE_INVALID",
        "message": line.removeprefix("KEY_FILE_INVALID: "),
        "details": {"path": str(deep)},
    }


KEY_FILE_CODES = {
    "missing": "FILE_UNREADABLE",
    "a directory": "FILE_UNREADABLE",
    "a wrong password": "KEYSTORE_PASSWORD",
}


@pytest.mark.parametrize(("make", "says"), list(BAD_KEY_FILES.values()), ids=list(BAD_KEY_FILES))
def test_with_json_a_key_that_cannot_be_opened_is_the_error_object_on_stdout(
    odd: Path, make: Callable[[Path], None], says: str, request: pytest.FixtureRequest
) -> None:
    """With --json every failure is the error object on stdout, a local file's as a node's refusal
    (it was one line on stderr and nothing on stdout: a script reading stdout got no JSON)."""
    good = odd / "signer.key"
    good.write_text(SEED)
    bad = odd / "cosigner.key"
    make(bad)
    case = request.node.callspec.id
    send = ("tx", "send", "--kind", "kv.put", "--key", str(good), "--server", "http://127.0.0.1:9", "--json")
    out = run_anju(*send, "--cosign", str(bad), ANJU_PASSWORD="wrong")
    assert out.returncode == 1 and "Traceback" not in out.stderr and "cannot open" not in out.stderr, out
    error = json.loads(out.stdout)["error"]
    assert error["code"] == KEY_FILE_CODES.get(case, "KEY_FILE_INVALID"), error
    assert error["message"].startswith(f"cannot open the --cosign key {bad}: ") and says in error["message"], error
    assert error["details"] == {"option": "--cosign", "path": str(bad)}, error


def test_with_json_keys_show_disclose_and_check_report_unreadable_files_as_error_objects(odd: Path) -> None:
    missing = odd / "absent.json"
    shown = run_anju("keys", "show", str(missing), "--password", "x", "--json")
    assert shown.returncode == 1 and json.loads(shown.stdout)["error"]["code"] == "FILE_UNREADABLE", shown
    args = ("keys", "disclose", "--salt", "00" * 16, "--identity", "me", "--json")
    disclosed = run_anju(*args, str(missing))
    error = json.loads(disclosed.stdout)["error"]
    assert disclosed.returncode == 1 and error["code"] == "FILE_UNREADABLE", disclosed
    assert error["message"] == f"cannot read {missing}: No such file or directory" and error["details"] == {
        "path": str(missing)
    }
    from anju.crypto.keys import SigningKey
    from anju.ledger.note import vkey_of

    vkey = vkey_of("anju-test", SigningKey(b"v" * 32).public)
    checked = run_anju("check", str(missing), "--key", vkey, "--json")
    answer = json.loads(checked.stdout)
    assert checked.returncode == 1 and answer["ok"] is False, checked
    assert answer["error"]["code"] == "FILE_UNREADABLE" and answer["error"]["details"] == {"path": str(missing)}


@pytest.mark.parametrize("chain_id", ["odd-[b]-1", "odd-[/b]-1"])
def test_init_and_verify_print_the_verifier_key_as_it_is(tmp_path: Path, chain_id: str) -> None:
    """The verifier key is named after the chain id: it was printed as rich markup, so init and
    verify showed "odd--1+…" (a key that is not the ledger's, for its operator to publish), and a
    closing tag ("[/b]") was a MarkupError traceback (init's after the ledger was made)."""
    data = tmp_path / "ledger"
    made = run_anju("init", "--data", str(data), "--app", "kv", "--chain-id", chain_id, "--json")
    assert made.returncode == 0, made.stderr
    vkey = json.loads(made.stdout)["verifier_key"]
    assert vkey.startswith(chain_id + "+"), vkey
    (tmp_path / "ledger").rename(tmp_path / "first")
    made = run_anju("init", "--data", str(data), "--app", "kv", "--chain-id", chain_id)
    assert made.returncode == 0 and "Traceback" not in made.stderr, made.stderr
    vkey = made.stdout.splitlines()[-1].removeprefix("verifier key: ")
    assert vkey.startswith(chain_id + "+") and made.stdout.endswith(f"verifier key: {vkey}\n"), made.stdout
    ok = run_anju("verify", "--data", str(data), "--workers", "1")
    assert ok.returncode == 0 and "Traceback" not in ok.stderr, ok.stderr
    assert f"checkpoints signed by {vkey} (" in ok.stdout, ok.stdout
