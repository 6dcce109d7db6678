"""``anju keys``: what it prints, where, and what it refuses."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.anju_run import run_anju

_run = run_anju


def test_prompts_go_to_stderr_and_json_stays_json(tmp_path: Path) -> None:
    """Typer wrote its prompts to stdout: `Password:{"public_key": …}`, `Text to commit to:{…}`."""
    path = tmp_path / "auth.json"
    made = _run("keys", "new", "--out", str(path), "--json", stdin="pw1\npw1\n")
    assert made.returncode == 0, made.stderr
    public = json.loads(made.stdout)["public_key"]
    assert "Password" in made.stderr and "Repeat for confirmation" in made.stderr
    shown = _run("keys", "show", str(path), "--json", stdin="pw1\n")
    assert json.loads(shown.stdout) == {"public_key": public} and "Password" in shown.stderr
    human = _run("keys", "show", str(path), stdin="pw1\n")
    assert human.stdout == public + "\n", human.stdout  # KEY=$(anju keys show auth.json) captures the key
    committed = _run("keys", "commit", "--json", stdin="衡山路 88号\n")
    assert set(json.loads(committed.stdout)) == {"salt", "commitment"} and "Text to commit to" in committed.stderr
    wrong = _run("keys", "show", str(path), stdin="pw2\n")
    assert wrong.returncode == 1 and not wrong.stdout, wrong
    # the prompt's line ends where the answer was read (nothing echoes it): the error has its own
    assert wrong.stderr.splitlines() == [
        "Password: ",
        "KEYSTORE_PASSWORD: wrong password, or the keystore was altered",
    ], wrong.stderr
    differ = _run("keys", "new", "--out", str(tmp_path / "other.json"), stdin="a\nb\n")
    assert differ.returncode == 1 and "do not match" in differ.stderr and not (tmp_path / "other.json").exists()


def test_keys_new_never_overwrites_a_keystore(tmp_path: Path) -> None:
    """`keys new --out` over an existing keystore destroyed its key (exit 0); a missing directory
    or a directory gave tracebacks."""
    path = tmp_path / "auth.json"
    first = _run("keys", "new", "--out", str(path), "--json", ANJU_PASSWORD="x")
    assert first.returncode == 0, first.stderr
    before = path.read_bytes()
    for target in (path, tmp_path, tmp_path / "nodir" / "x.json"):
        again = _run("keys", "new", "--out", str(target), "--json", ANJU_PASSWORD="x")
        assert again.returncode == 2 and not again.stdout, again.stdout
        assert "Traceback" not in again.stderr and str(target) in again.stderr, again.stderr
    assert path.read_bytes() == before
    assert (path.stat().st_mode & 0o777) == 0o600


NOT_UTF8 = "pw\udcff"
"""What Python makes of the bytes ``pw\\xff`` in an argument, a variable or a line read (not UTF-8)."""


def test_a_password_or_text_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    """A password of bytes that are not UTF-8 (ANJU_PASSWORD, a pipe): keys new was a
    UnicodeEncodeError traceback, keys show and tx send said "damaged keystore: 'utf-8' codec can't
    encode…"; keys commit of such a text said "--salt must be 16 bytes of hex" (no --salt given)."""
    import subprocess

    from tests.cli.anju_run import ANJU

    path = tmp_path / "auth.json"
    for how in ("variable", "pipe"):
        if how == "variable":
            out = _run("keys", "new", "--out", str(path), ANJU_PASSWORD=NOT_UTF8)
            err = out.stderr
        else:
            done = subprocess.run(
                [*ANJU, "keys", "new", "--out", str(path)], input=b"pw\xff\npw\xff\n", capture_output=True, timeout=120
            )
            out, err = done, done.stderr.decode(errors="replace")
        assert out.returncode == 2 and not out.stdout and "Traceback" not in err, err
        assert err.splitlines()[-1] == "the password is not UTF-8 text", err
        assert not path.exists()
    assert _run("keys", "new", "--out", str(path), ANJU_PASSWORD="pw").returncode == 0
    shown = _run("keys", "show", str(path), ANJU_PASSWORD=NOT_UTF8)
    assert shown.returncode == 2 and shown.stderr == "the password is not UTF-8 text\n", shown
    sent = _run(
        "tx", "send", "--kind", "kv.put", "--key", str(path), "--server", "http://127.0.0.1:9", ANJU_PASSWORD=NOT_UTF8
    )
    assert sent.returncode == 2 and sent.stderr == "the password is not UTF-8 text\n", sent
    committed = _run("keys", "commit", "a\udcffb")
    assert committed.returncode == 2 and committed.stderr == "the text to commit to is not UTF-8 text\n", committed
    disclosed = _run("keys", "disclose", str(tmp_path / "h.json"), "--salt", "00" * 16, "--identity", NOT_UTF8)
    assert disclosed.returncode == 2 and disclosed.stderr == "the identity text is not UTF-8 text\n", disclosed


def test_keys_show_reads_every_key_file_and_asks_a_password_only_of_a_keystore(tmp_path: Path) -> None:
    """docs/PROTOCOL.md, "Key files": `anju keys …` reads a keystore, a node key file and a bare
    hex seed, as `tx send --key` does. `keys show` read keystores only: it asked for a password
    first, whatever the file, then said "not an Anju keystore" of a node.key or a seed, and asked
    for the password of a file that was not there before saying so."""
    from anju.chain.node import init_ledger, read_node_key
    from anju.crypto.keys import SigningKey

    init_ledger(tmp_path / "data", chain_id="anju-test", app="kv", params={})
    node_key = tmp_path / "data" / "node.key"
    seed = tmp_path / "seed.hex"
    seed.write_text(("ab" * 32) + "\n")
    for path, public in (
        (node_key, read_node_key(tmp_path / "data").public_hex),
        (seed, SigningKey(bytes.fromhex("ab" * 32)).public_hex),
    ):
        shown = _run("keys", "show", str(path))  # (stdin empty: a password asked for would abort)
        assert shown.returncode == 0 and shown.stdout == public + "\n", shown
        assert "Password" not in shown.stderr, shown.stderr
        as_json = _run("keys", "show", str(path), "--json")
        assert json.loads(as_json.stdout) == {"public_key": public}, as_json
    missing = tmp_path / "absent.json"
    out = _run("keys", "show", str(missing), stdin="pw\n")
    assert out.returncode == 1 and not out.stdout, out
    assert out.stderr == f"FILE_UNREADABLE: cannot read keystore {missing}: No such file or directory\n", out.stderr
    other = tmp_path / "other.json"
    other.write_text('{"a": 1}')
    out = _run("keys", "show", str(other), "--json", stdin="pw\n")
    assert out.returncode == 1 and "Password" not in out.stderr, out
    assert json.loads(out.stdout)["error"]["code"] == "KEY_FILE_INVALID", out.stdout


def test_a_contract_file_is_checked_against_the_portals_commitment(tmp_path: Path) -> None:
    """The portal commits to a contract as a browser sends it (a text area's line breaks as CRLF);
    a copy saved as a file (LF, a final newline) must open the same commitment with --file."""
    from anju.crypto.commitments import commit, document_text

    typed = "房屋租赁合同\r\n第一条 租期一年。\r\n第二条 月租金9000元。  "
    salt, commitment = commit(document_text(typed))
    copy = tmp_path / "contract.txt"
    copy.write_bytes("房屋租赁合同\n第一条 租期一年。\n第二条 月租金9000元。\n".encode())
    good = _run("keys", "commit", "--file", str(copy), "--salt", salt, "--commitment", commitment, "--json")
    assert good.returncode == 0 and json.loads(good.stdout) == {"opens": True}, good
    copy.write_bytes("房屋租赁合同\n第一条 租期一年。\n第二条 月租金8000元。\n".encode())  # another rent
    bad = _run("keys", "commit", "--file", str(copy), "--salt", salt, "--commitment", commitment, "--json")
    assert bad.returncode == 1 and json.loads(bad.stdout) == {"opens": False}, bad
    made = _run("keys", "commit", "--file", str(copy), "--json")  # a fresh salt for the file's text
    drawn = json.loads(made.stdout)
    assert commit(document_text(copy.read_text()), drawn["salt"])[1] == drawn["commitment"]
    both = _run("keys", "commit", "text", "--file", str(copy))
    assert both.returncode == 2 and "not both" in both.stderr, both
    copy.write_bytes(b"\xff\xfe")
    assert "is not UTF-8 text" in _run("keys", "commit", "--file", str(copy)).stderr
    missing = _run("keys", "commit", "--file", str(tmp_path / "nope.txt"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr, missing
