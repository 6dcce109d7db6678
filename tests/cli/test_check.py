"""``anju check``: whom it trusts, what it refuses, and what it says about the proof's age."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.client import forge
from typer.testing import CliRunner

from anju.cli.main import app
from anju.crypto.keys import SigningKey
from anju.ledger.note import vkey_of

KEYS = [SigningKey(bytes([i]) * 32) for i in range(1, 5)]
NAMES = [f"anju-forge/member{i}" for i in range(len(KEYS))]
VKEYS = [vkey_of(n, k.public) for n, k in zip(NAMES, KEYS, strict=True)]


PARTY = "ab" * 32


def _bundle(tmp_path: Path, signers: int, *, proves: bool = False, time: str = forge.TIME) -> Path:
    """A history bundle whose checkpoint the first ``signers`` members signed: empty, or (``proves``)
    proving a newly registered tenant's history (no leases, no credit record yet)."""
    state = {f"party/{PARTY}": {"id": PARTY, "role": "tenant"}, f"credit/{PARTY}": None} if proves else {}
    doc = forge.bundle(
        "history",
        PARTY,
        state,
        lambda cp: forge.sign(cp, *zip(KEYS[:signers], NAMES[:signers], strict=True)),
        forge.checkpoint(time=time),
    )
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(doc))
    return path


def _check(*args: str) -> tuple[int, Any]:
    result = CliRunner().invoke(app, ["check", *args, "--json"], env={"COLUMNS": "200"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    try:
        return result.exit_code, json.loads(result.output)
    except ValueError:
        return result.exit_code, result.output


@pytest.mark.parametrize("signers", [1, 2])
def test_check_with_several_keys_wants_a_quorum(tmp_path: Path, signers: int) -> None:
    """Three keys of a consortium: one signature is refused, as two of three is; three pass the
    checkpoint (and then the empty bundle proves no party)."""
    path = _bundle(tmp_path, signers)
    keys = [a for v in VKEYS[:3] for a in ("--key", v)]
    code, out = _check(str(path), *keys)
    assert code == 1 and out["error"]["code"] == "CHECKPOINT_INVALID", out
    assert out["error"]["details"]["reason"] == "below_threshold"
    code, out = _check(str(path), *keys, "--threshold", str(signers))
    assert code == 1 and out["error"]["code"] == "PROOF_INVALID", out  # past the checkpoint: a party is missing


def test_check_refuses_one_key_under_two_names_cleanly(tmp_path: Path) -> None:
    path = _bundle(tmp_path, 1)
    twice = vkey_of("anju-forge/impostor", KEYS[0].public)
    code, out = _check(str(path), "--key", VKEYS[0], "--key", twice)
    assert code == 1 and out["error"]["details"]["reason"] == "ambiguous_verifiers", out
    code, out = _check(str(path), "--key", VKEYS[0], "--threshold", "2")
    assert code == 2 and "threshold" in out and "Traceback" not in out
    vkeys = [*VKEYS[:2], twice]
    members = [{"name": v.split("+")[0], "vkey": v, "cosign_url": "http://127.0.0.1:1"} for v in vkeys]
    (tmp_path / "consortium.json").write_text(json.dumps({"members": members, "threshold": 3}))
    code, out = _check(str(path), "--consortium", str(tmp_path))
    assert code == 2 and "twice" in out and "Traceback" not in out


def test_check_with_a_consortium_takes_a_stricter_threshold_never_a_weaker_one(tmp_path: Path) -> None:
    """``--consortium`` trusts its members at its quorum; ``--threshold`` may ask for more of them
    (it was once ignored), never for fewer; ``--key`` beside it is a usage error, not dropped."""
    path = _bundle(tmp_path, 3, proves=True)
    members = [{"name": v.split("+")[0], "vkey": v, "cosign_url": "http://127.0.0.1:1"} for v in VKEYS]
    (tmp_path / "consortium.json").write_text(json.dumps({"members": members, "threshold": 3}))
    code, out = _check(str(path), "--consortium", str(tmp_path))
    assert code == 0 and out["ok"], out
    code, out = _check(str(path), "--consortium", str(tmp_path), "--threshold", "4")
    assert code == 1 and out["error"]["details"]["reason"] == "below_threshold", out
    for weaker in ("2", "5"):
        code, out = _check(str(path), "--consortium", str(tmp_path), "--threshold", weaker)
        assert code == 2 and "--threshold" in out and "Traceback" not in out, out
    code, out = _check(str(path), "--consortium", str(tmp_path), "--key", VKEYS[0])
    assert code == 2 and "--consortium" in out, out


def test_check_says_how_old_the_proof_is_and_refuses_an_old_one(tmp_path: Path) -> None:
    """A genuine bundle stays genuine for ever: the reader sees the checkpoint's time, and can
    refuse one older than --max-age."""
    path = _bundle(tmp_path, 1, proves=True, time="2026-03-01T08:00:00.000Z")
    code, out = _check(str(path), "--key", VKEYS[0])
    assert code == 0 and out["kind"] == "history" and out["as_of"] == "2026-03-01T08:00:00.000Z", out
    result = CliRunner().invoke(app, ["check", str(path), "--key", VKEYS[0]], env={"COLUMNS": "300"})
    assert "proven as of 2026-03-01T08:00:00.000Z, height 1" in result.stdout, result.output  # the answer: stdout
    code, out = _check(str(path), "--key", VKEYS[0], "--max-age", "3600")
    assert code == 1 and out["error"]["code"] == "CHECKPOINT_INVALID", out
    assert (
        out["error"]["details"]["reason"] == "stale" and out["error"]["details"]["time"] == "2026-03-01T08:00:00.000Z"
    )
    fresh = _bundle(tmp_path, 1, proves=True, time=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"))
    code, out = _check(str(fresh), "--key", VKEYS[0], "--max-age", "3600")
    assert code == 0 and out["ok"], out


def test_check_pinned_to_a_chain_refuses_another(tmp_path: Path) -> None:
    path = _bundle(tmp_path, 1, proves=True)
    code, out = _check(str(path), "--key", VKEYS[0], "--chain-id", "anju-xuhui-1")
    assert code == 1 and out["error"]["details"]["reason"] == "wrong_origin", out
    code, out = _check(str(path), "--key", VKEYS[0], "--chain-id", "anju-forge")
    assert code == 0 and out["ok"], out


def test_check_of_a_bundle_compares_it_with_the_remembered_checkpoint(tmp_path: Path) -> None:
    """Offline there is no consistency proof: the remembered checkpoint is read and compared (one
    history), never advanced; an unusable file is a refusal."""
    path = _bundle(tmp_path, 1, proves=True)  # height 1, time forge.TIME
    proven = json.loads(path.read_text())["checkpoint"]
    memory = tmp_path / "seen.note"
    code, out = _check(str(path), "--key", VKEYS[0], "--remember", str(memory))
    assert code == 0 and out["ok"] and not memory.exists(), out  # nothing to compare, nothing written
    later = forge.sign(forge.checkpoint(size=4, height=3, time="2026-03-02T08:00:00.000Z"), (KEYS[0], NAMES[0]))
    memory.write_text(later)
    code, out = _check(str(path), "--key", VKEYS[0], "--remember", str(memory))
    assert code == 0 and out["ok"] and memory.read_text() == later, out  # an older bundle of the same history
    other = forge.sign(forge.checkpoint(height=1, root=b"\x05" * 32), (KEYS[0], NAMES[0]))
    assert other != proven
    memory.write_text(other)  # the same block with another log: the signer told two stories
    code, out = _check(str(path), "--key", VKEYS[0], "--remember", str(memory))
    assert code == 1 and out["error"]["code"] == "PROOF_INVALID", out
    memory.write_text(forge.sign(forge.checkpoint(), (KEYS[1], NAMES[1])))  # signed by a key not trusted here
    code, out = _check(str(path), "--key", VKEYS[0], "--remember", str(memory))
    assert code == 1 and out["error"]["details"]["reason"] == "remembered", out


@pytest.mark.parametrize("target", ["", ".", "DIR", "missing.json"])
def test_check_of_nothing_a_directory_or_a_missing_file_says_so(tmp_path: Path, target: str) -> None:
    """No traceback: an empty argument or a directory is a usage error (exit 2), a file that cannot
    be read a failure (exit 1, as for a keystore) that says why."""
    if target == "DIR":
        target = str(tmp_path)
    elif target == "missing.json":
        target = str(tmp_path / "missing.json")
    code, out = _check(target, "--key", VKEYS[0])
    if target.endswith("missing.json"):  # with --json, the error object on stdout (it was a line on stderr)
        assert code == 1 and not isinstance(out, str) and out["ok"] is False, out
        assert out["error"]["code"] == "FILE_UNREADABLE", out
        assert out["error"]["message"] == f"cannot read {target}: No such file or directory", out
    else:
        assert isinstance(out, str) and "Traceback" not in out
        assert code == 2 and "give a listing code" in out, out


def test_check_of_a_file_larger_than_a_bundle_stops_reading(tmp_path: Path, monkeypatch: Any) -> None:
    """A file larger than any single bundle (a device's endless bytes, say /dev/zero, read for ever
    before) is refused once that much is read, saying a larger history comes in parts."""
    import anju.cli.serve_cmds

    monkeypatch.setattr(anju.cli.serve_cmds, "MAX_BUNDLE_FILE", 1 << 20)
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (1 << 20) + b"{}")
    code, out = _check(str(big), "--key", VKEYS[0])
    assert code == 1 and out["error"]["code"] == "BUNDLE_TOO_LARGE", out
    assert "larger than a single bundle (1 MiB)" in out["error"]["message"], out
    code, out = _check("/dev/zero", "--key", VKEYS[0])
    assert code == 1 and out["error"]["code"] == "BUNDLE_TOO_LARGE" and "comes in parts" in out["error"]["message"]


@pytest.mark.parametrize("date", ["notadate", "2026-02-30", "1999", "20260301", "2026-3-1", "２０２６-03-01"])
def test_check_refuses_a_date_that_is_not_one(tmp_path: Path, date: str) -> None:
    """--date was compared as text: "notadate" judged a listing expired, 2026-02-30 and 1999 live."""
    path = _bundle(tmp_path, 1, proves=True)
    code, out = _check(str(path), "--key", VKEYS[0], "--date", date)
    assert code == 2 and isinstance(out, str) and "YYYY-MM-DD" in out and "Traceback" not in out, out
    code, out = _check(str(path), "--key", VKEYS[0], "--date", "2026-03-01")  # a real date, but for a history
    assert code == 2 and isinstance(out, str) and "a history has no status" in out, out
    code, out = _check(str(path), "--key", VKEYS[0])
    assert code == 0 and out["ok"], out


def test_check_answers_on_stdout_and_fails_on_stderr(tmp_path: Path) -> None:
    """The verdict is the command's answer (stdout: `X=$(anju check …)` captures it); a refusal is
    an error (stderr), and with --json its JSON object is on stdout."""
    path = _bundle(tmp_path, 1, proves=True)
    ok = CliRunner().invoke(app, ["check", str(path), "--key", VKEYS[0]], env={"COLUMNS": "80"})
    assert ok.exit_code == 0 and ok.stdout.startswith("VERIFIED rental history") and not ok.stderr, ok.output
    assert len(ok.stdout.strip().splitlines()) == 1  # (not wrapped to the terminal's width)
    bad = CliRunner().invoke(app, ["check", str(path), "--key", VKEYS[1]])
    assert bad.exit_code == 1 and not bad.stdout and bad.stderr.startswith("NOT VERIFIED CHECKPOINT_INVALID"), (
        bad.output
    )


def test_a_threshold_without_the_members_keys_is_a_usage_error(tmp_path: Path) -> None:
    """The one key a node reports about itself meets no threshold of members (it was a traceback)."""
    code, out = _check("ABCD-EFGH", "--threshold", "2", "--server", "http://127.0.0.1:9")
    assert code == 2 and isinstance(out, str) and "--threshold needs the members' keys" in out, out
    path = _bundle(tmp_path, 1, proves=True)
    code, out = _check(str(path), "--threshold", "2")  # offline too
    assert code == 2 and isinstance(out, str) and "--threshold needs" in out, out
