"""``anju init`` checks every option before it writes anything: a bad one is a usage error (exit 2,
one line, nothing left behind), and --json then prints the contract's error object on stdout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from anju.chain.node import DB_NAME, read_genesis
from anju.cli.main import app

KEY = "ab" * 32


def _init(data: Path, *args: str) -> Result:
    return CliRunner().invoke(app, ["init", "--data", str(data), *args], env={"COLUMNS": "80"})


BAD = {
    "authority-not-hex": (["--authority", "nothex"], "--authority"),
    "authority-short": (["--authority", KEY[:-2]], "--authority"),
    "no-authority": ([], "--authority"),
    "unknown-app": (["--app", "bogus", "--authority", KEY], "--app"),
    "chain-id-with-space": (["--chain-id", "a b/c", "--authority", KEY], "--chain-id"),
    "chain-id-with-plus": (["--chain-id", "a+b", "--authority", KEY], "--chain-id"),
    "empty-chain-id": (["--chain-id", "", "--authority", KEY], "--chain-id"),
    "kv-with-authority": (["--app", "kv", "--authority", KEY], "--authority"),
}


@pytest.mark.parametrize(("args", "option"), list(BAD.values()), ids=list(BAD))
@pytest.mark.parametrize("exists", [False, True], ids=["new-dir", "empty-dir"])
def test_a_bad_option_is_a_usage_error_and_writes_nothing(
    tmp_path: Path, args: list[str], option: str, exists: bool
) -> None:
    data = tmp_path / "d3"
    if exists:
        data.mkdir()
    result = _init(data, *args)
    assert result.exit_code == 2, result.output
    assert option in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output  # one line, even at 80 columns
    assert list(tmp_path.iterdir()) == ([data] if exists else [])
    assert not exists or list(data.iterdir()) == []


@pytest.mark.parametrize(("args", "option"), list(BAD.values()), ids=list(BAD))
def test_a_bad_option_with_json_prints_an_error_object(tmp_path: Path, args: list[str], option: str) -> None:
    result = _init(tmp_path / "d3", *args, "--json")
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "INVALID_FIELD" and error["details"] == {"option": option} and error["message"]
    assert result.stderr == ""  # the JSON object is the whole answer
    assert list(tmp_path.iterdir()) == []


def test_data_that_is_a_file_is_refused_in_one_clear_line(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("mine")
    result = _init(afile, "--authority", KEY)
    assert result.exit_code == 2, result.output
    assert result.output.strip() == f"INVALID_FIELD: --data {afile} is not a directory"
    assert afile.read_text() == "mine"
    result = _init(afile / "sub", "--authority", KEY, "--json")  # a parent that is a file: not a usage error
    assert result.exit_code == 1, result.output
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "STORAGE_UNAVAILABLE" and "Not a directory" in error["message"], error
    assert error["details"] == {"data": str(afile / "sub")} and result.stderr == ""
    assert afile.read_text() == "mine"


def test_a_directory_that_holds_a_ledger_is_refused_and_kept(tmp_path: Path) -> None:
    data = tmp_path / "mine"
    first = _init(data, "--authority", KEY, "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["chain_id"] == "anju-xuhui-1"
    before = {p.name: p.read_bytes() for p in data.iterdir()}
    result = _init(data, "--authority", "cd" * 32, "--json")
    assert result.exit_code == 1, result.output
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "LEDGER_EXISTS" and error["details"] == {"data": str(data)}, error  # not INVALID_FIELD
    assert "already holds a ledger" in error["message"] and result.stderr == ""
    assert {p.name: p.read_bytes() for p in data.iterdir()} == before
    result = _init(data, "--authority", "cd" * 32)
    assert result.exit_code == 1 and "already holds a ledger" in result.output, result.output


def test_a_ledger_made_meanwhile_is_ledger_exists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another init that wins the race (ledger.db appears after the check): LEDGER_EXISTS, not a storage failure."""
    from anju.chain import node

    data = tmp_path / "raced"

    def made_meanwhile(data: Path, **_kw: object) -> Path:
        data.mkdir()
        (data / DB_NAME).write_bytes(b"theirs")
        raise FileExistsError(f"{data / DB_NAME} already exists")

    monkeypatch.setattr(node, "init_ledger", made_meanwhile)
    result = _init(data, "--authority", KEY, "--json")
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["error"]["code"] == "LEDGER_EXISTS", result.stdout
    assert (data / DB_NAME).read_bytes() == b"theirs"


@pytest.mark.parametrize(
    ("failure", "reason"),
    [(OSError(28, "No space left on device"), "No space left on device"), (None, "database or disk is full")],
    ids=["os", "sqlite"],
)
def test_a_ledger_that_cannot_be_written_is_storage_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: OSError | None, reason: str
) -> None:
    import sqlite3

    from anju.chain import node

    def full(data: Path, **_kw: object) -> Path:
        raise failure or sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(node, "init_ledger", full)
    result = _init(tmp_path / "full", "--authority", KEY, "--json")
    assert result.exit_code == 1, result.output
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "STORAGE_UNAVAILABLE" and reason in error["message"], error
    result = _init(tmp_path / "full", "--authority", KEY)
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert result.output.strip() == f"STORAGE_UNAVAILABLE: cannot create a ledger in {tmp_path / 'full'}: {reason}"


def test_good_options_make_a_ledger(tmp_path: Path) -> None:
    result = _init(tmp_path / "reg", "--authority", KEY.upper(), "--chain-id", "anju-徐汇-1")
    assert result.exit_code == 0, result.output
    genesis = read_genesis(tmp_path / "reg")
    assert genesis["params"]["authority"] == KEY and genesis["chain_id"] == "anju-徐汇-1"
    result = _init(tmp_path / "kv", "--app", "kv")
    assert result.exit_code == 0 and (tmp_path / "kv" / DB_NAME).exists(), result.output


def test_a_node_key_already_there_is_kept_and_a_damaged_one_refused(tmp_path: Path) -> None:
    """A node.key made beforehand (its public key handed out) signs the new ledger; one that is not
    a node key file is refused in one line (exit 1) and left as it is, and nothing is written."""
    from anju.chain.node import write_node_key
    from anju.crypto.keys import SigningKey
    from anju.ledger.note import vkey_of

    data = tmp_path / "keyed"
    data.mkdir()
    key = SigningKey(b"n" * 32)
    write_node_key(data / "node.key", key)
    result = _init(data, "--app", "kv", "--chain-id", "kept-1", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["verifier_key"] == vkey_of("kept-1", key.public)

    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "node.key").write_text('{"ed25519_seed": "00"}')
    result = _init(damaged, "--app", "kv")
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert result.output.startswith(f"NODE_KEY_INVALID: {damaged / 'node.key'} is not a valid node key file"), (
        result.output
    )
    result = _init(damaged, "--app", "kv", "--json")
    assert result.exit_code == 1 and result.stderr == "", result.output
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "NODE_KEY_INVALID" and error["details"] == {"path": str(damaged / "node.key")}, error
    assert [p.name for p in damaged.iterdir()] == ["node.key"]
    assert (damaged / "node.key").read_text() == '{"ed25519_seed": "00"}'


def test_a_genesis_already_there_is_kept_when_it_is_the_same_chain_and_refused_otherwise(tmp_path: Path) -> None:
    """An interrupted init's genesis.json (same chain id, application and parameters) is kept, with
    its time; any other one (another chain's, copied there; one that is not a genesis document) is
    refused with LEDGER_EXISTS and left as it is, with nothing written: a new chain never silently
    replaces a genesis someone put there."""
    made = tmp_path / "made"
    assert _init(made, "--app", "kv", "--chain-id", "same-1").exit_code == 0
    earlier = (made / "genesis.json").read_bytes()

    interrupted = tmp_path / "interrupted"
    interrupted.mkdir()
    (interrupted / "genesis.json").write_bytes(earlier)
    result = _init(interrupted, "--app", "kv", "--chain-id", "same-1")
    assert result.exit_code == 0, result.output
    assert (interrupted / "genesis.json").read_bytes() == earlier
    assert read_genesis(interrupted)["time"] == json.loads(earlier)["time"]

    for name, content in {
        "other-chain": earlier.replace(b"same-1", b"other-1"),
        "other-app": json.dumps({**json.loads(earlier), "app": "anju-registry"}).encode(),
        "not-json": b"{not json",
        "not-object": b"[1, 2]",
        # the same chain, application and parameters, but a time no block can carry: it was kept, and
        # the init then failed half-way (CHECKPOINT_INVALID), a node.key and ledger.db.init left behind
        "bad-time": earlier.replace(json.loads(earlier)["time"].encode(), b"2026-11-27T00:00:00Z"),
        "no-time": earlier.replace(json.loads(earlier)["time"].encode(), b"soon"),
    }.items():
        data = tmp_path / name
        data.mkdir()
        (data / "genesis.json").write_bytes(content)
        result = _init(data, "--app", "kv", "--chain-id", "same-1", "--json")
        assert result.exit_code == 1 and result.stderr == "", (name, result.output)
        error = json.loads(result.stdout)["error"]
        assert error["code"] == "LEDGER_EXISTS" and error["details"] == {"path": str(data / "genesis.json")}, error
        assert error["message"].startswith(f"{data / 'genesis.json'} is "), error
        assert [p.name for p in data.iterdir()] == ["genesis.json"], name
        assert (data / "genesis.json").read_bytes() == content, name
    result = _init(tmp_path / "other-chain", "--app", "kv", "--chain-id", "same-1")
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
    assert "another chain ('other-1')" in result.output and "give another --data" in result.output, result.output
