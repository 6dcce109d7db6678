"""Every core endpoint and every error the API exposes, against a real server process (kv app)."""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from tests.api.conftest import CHAIN, JSON_BODY, Server
from tests.conftest import all_gone, children_of

from anju.client import AnjuClient
from anju.crypto.keys import SigningKey
from anju.crypto.tx import sign
from anju.ledger import merkle
from anju.ledger.checkpoint import Checkpoint
from anju.ledger.note import Verifier


def env(key: SigningKey, seq: int, k: str = "a", v: str = "b", **extra: Any) -> dict[str, Any]:
    body = {"chain": CHAIN, "kind": "kv.put", "signer": key.public_hex, "seq": seq, "key": k, "value": v, **extra}
    return sign(body, [key])


def post(s: Server, envelope: Any, wait: bool = True) -> httpx.Response:
    raw = envelope if isinstance(envelope, bytes) else orjson.dumps(envelope)
    return s.http.post("/api/v1/txs", content=raw, params={"wait": "commit"} if wait else {}, headers=JSON_BODY)


def err(resp: httpx.Response) -> str:
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    return str(body["error"]["code"])


def test_node_checkpoint_blocks_txs_state(kv_server: Server) -> None:
    s = kv_server
    info = s.http.get("/api/v1/node").json()
    assert info["chain_id"] == CHAIN and info["origin"] == CHAIN and info["height"] == 0 and info["tree_size"] == 0
    key = SigningKey.generate()
    r = post(s, env(key, 1, "greeting", "你好"))
    assert r.status_code == 200, r.text
    rec = r.json()
    assert rec["status"] == "committed" and rec["index"] == 0 and rec["events"][0]["kind"] == "kv.put"
    # a pending (not waited) one, then its status
    r2 = post(s, env(key, 2, "b", "c"), wait=False)
    assert r2.status_code == 202 and r2.json()["status"] == "pending"
    client = AnjuClient(s.url, s.vkey)
    proven = client.wait(r2.json()["txid"])
    assert proven.index == 1 and proven.envelope["body"]["value"] == "c"
    # checkpoint text/plain, signed by the published key
    cp_resp = s.http.get("/api/v1/checkpoint")
    assert cp_resp.headers["content-type"].startswith("text/plain")
    cp = Checkpoint.open(cp_resp.text, [Verifier.from_vkey(s.vkey)])
    assert cp.size == 2 and cp.origin == CHAIN
    # tx with inclusion proof, verified by hand (RFC 9162)
    t = s.http.get(f"/api/v1/txs/{rec['txid']}").json()
    tcp = Checkpoint.open(t["checkpoint"], [Verifier.from_vkey(s.vkey)])
    leaf = base64.b64decode(t["leaf"])
    merkle.verify_inclusion(
        merkle.leaf_hash(leaf), t["index"], tcp.size, [base64.b64decode(h) for h in t["inclusion"]["hashes"]], tcp.root
    )
    # block
    b = s.http.get(f"/api/v1/blocks/{rec['height']}").json()
    assert rec["txid"] in b["txids"] and b["checkpoint"].startswith(CHAIN + "\n")
    assert base64.b64decode(b["log_root"]) == Checkpoint.open(b["checkpoint"], [Verifier.from_vkey(s.vkey)]).root
    # consistency proof, verified
    c = s.http.get("/api/v1/proofs/consistency", params={"first": 1, "second": 2}).json()
    root1 = Checkpoint.open(
        s.http.get(f"/api/v1/blocks/{rec['height']}").json()["checkpoint"], [Verifier.from_vkey(s.vkey)]
    ).root
    merkle.verify_consistency(1, 2, [base64.b64decode(h) for h in c["hashes"]], root1, cp.root)
    # state with proof (present and absent), through the SDK
    assert client.state("kv/greeting").value == "你好"
    assert client.state("kv/nothing-here").value is None
    assert client.tx(rec["txid"]).envelope["body"]["key"] == "greeting"
    assert client.next_seq(key.public_hex) == 3


def test_error_codes(kv_server: Server, tmp_path: Path) -> None:
    s = kv_server
    key = SigningKey.generate()
    assert err(r := post(s, b"{not json")) == "MALFORMED_JSON" and r.status_code == 400
    assert err(post(s, {"body": {}, "sigs": []})) in ("MALFORMED_ENVELOPE", "MISSING_SIGNATURE")
    assert err(post(s, {**env(key, 1), "extra": 1})) == "UNKNOWN_FIELD"
    assert err(post(s, b'{"body": {"chain": "x", "kind": "kv.put", "seq": 1.5}, "sigs": []}')) in (
        "NON_INTEGER_NUMBER",
        "MISSING_SIGNATURE",
        "MALFORMED_ENVELOPE",
    )
    wrong = sign(
        {"chain": "other", "kind": "kv.put", "signer": key.public_hex, "seq": 1, "key": "a", "value": "b"}, [key]
    )
    assert err(post(s, wrong)) == "WRONG_CHAIN"
    bad = env(key, 1)
    bad["sigs"][0]["sig"] = "00" * 64
    assert err(r := post(s, bad)) == "BAD_SIGNATURE" and r.status_code == 400
    assert err(post(s, env(key, 5))) == "SEQ_SKIPPED"
    assert post(s, env(key, 1)).status_code == 200
    assert err(post(s, env(key, 1))) == "DUPLICATE_TX"
    assert err(r := post(s, env(key, 1, "other"))) == "SEQ_REUSED" and r.status_code == 409
    unknown = sign({"chain": CHAIN, "kind": "kv.nope", "signer": key.public_hex, "seq": 2}, [key])
    assert err(post(s, unknown)) == "UNKNOWN_KIND"
    assert err(post(s, env(key, 2, "x" * 200))) == "INVALID_FIELD"
    assert err(r := post(s, b"x" * (300 * 1024))) == "PAYLOAD_TOO_LARGE" and r.status_code == 413
    assert err(post(s, env(key, 2, "k", "v" * 70_000))) in ("TX_TOO_LARGE", "INVALID_FIELD")
    assert err(r := s.http.get("/api/v1/txs/" + "ab" * 32)) == "NOT_FOUND" and r.status_code == 404
    assert err(r := s.http.get("/api/v1/txs/xyz")) == "BAD_REQUEST" and r.status_code == 400
    assert err(s.http.get("/api/v1/blocks/99")) == "NOT_FOUND"
    assert err(s.http.get("/api/v1/blocks/-1")) == "BAD_REQUEST"
    assert err(s.http.get("/api/v1/proofs/consistency", params={"first": 5, "second": 9})) == "BAD_REQUEST"
    assert err(s.http.get("/api/v1/proofs/consistency")) == "BAD_REQUEST"
    assert err(s.http.get("/api/v1/no/such/path")) == "NOT_FOUND"
    assert err(r := s.http.delete("/api/v1/node")) == "METHOD_NOT_ALLOWED" and r.status_code == 405
    assert err(s.http.get("/api/v1/events", headers={"Last-Event-ID": "x"})) == "BAD_REQUEST"
    assert err(s.http.get("/api/v1/listings")) == "NOT_FOUND"  # registry queries exist only on registry ledgers
    # a signature failure found asynchronously shows up as a rejected status
    bad2 = env(key, 2, "late")
    bad2["sigs"][0]["sig"] = "11" * 64
    txid = post(s, bad2, wait=False).json()["txid"]
    client = AnjuClient(s.url, s.vkey)
    try:
        client.wait(txid, timeout=10)
        raise AssertionError("should be rejected")
    except Exception as exc:
        assert getattr(exc, "code", "") == "BAD_SIGNATURE"


def test_a_forged_x_forwarded_for_does_not_reset_the_rate_limit(
    kv_ledger: Path, start_server: Callable[..., Server]
) -> None:
    """`anju serve` ignores X-Forwarded-For unless told which proxies to believe: a client naming a
    new address on every request is still one client to the limiter."""
    s = start_server(kv_ledger, "--rate", "1", "--burst", "5", cli=True)
    codes = [
        httpx.get(f"{s.url}/api/v1/node", headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code for i in range(30)
    ]
    assert codes[0] == 200 and codes.count(429) >= 20, codes


def test_rate_limit_and_mempool(kv_ledger: Path, start_server: Callable[..., Server]) -> None:
    s = start_server(kv_ledger, "--rate", "20", "--burst", "20", "--mempool", "30", "--block-interval", "0.3")
    codes: list[int] = []
    retry_after: set[str] = set()
    for _ in range(40):
        r = s.http.get("/api/v1/node")
        codes.append(r.status_code)
        if r.status_code == 429:
            assert err(r) == "RATE_LIMITED"
            retry_after.add(r.headers["Retry-After"])
    assert 429 in codes and codes[0] == 200 and retry_after
    s.stop()
    # mempool overflow: many concurrent submissions against a tiny mempool and slow blocks
    s = start_server(kv_ledger, "--mempool", "20", "--block-interval", "0.5")
    keys = [SigningKey.generate() for _ in range(200)]
    envs = [orjson.dumps(env(k, 1, f"k{i}")) for i, k in enumerate(keys)]

    shared = httpx.Client(base_url=s.url, timeout=30, limits=httpx.Limits(max_connections=64))

    def one(raw: bytes) -> tuple[int, str, str | None]:
        r = shared.post("/api/v1/txs", content=raw, headers=JSON_BODY)
        return r.status_code, r.json().get("txid") or r.json()["error"]["code"], r.headers.get("Retry-After")

    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        results = list(pool.map(one, envs))
    shared.close()
    accepted = [t for code, t, _ in results if code == 202]
    full = [(t, ra) for code, t, ra in results if code == 503]
    assert full and all(t == "MEMPOOL_FULL" and ra for t, ra in full), results[:5]
    assert accepted
    client = AnjuClient(s.url, s.vkey)
    for txid in accepted:  # nothing accepted is lost
        assert client.wait(txid, timeout=30).txid == txid


def test_graceful_shutdown_commits_accepted(kv_ledger: Path, start_server: Callable[..., Server]) -> None:
    s = start_server(kv_ledger, "--block-interval", "0.5")
    keys = [SigningKey.generate() for _ in range(50)]
    txids = [post(s, env(k, 1, f"k{i}"), wait=False).json()["txid"] for i, k in enumerate(keys)]
    assert s.stop() in (0, -15)  # uvicorn re-raises SIGTERM after its graceful shutdown
    s2 = start_server(kv_ledger)
    client = AnjuClient(s2.url, s2.vkey)
    for txid in txids:
        assert client.tx(txid).txid == txid


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: signal.Signals(s).name)
def test_a_stop_signal_to_the_servers_process_group_commits_everything_accepted(
    kv_ledger: Path, start_server: Callable[..., Server], sig: int
) -> None:
    """``anju serve`` stopped by a signal to its whole process group (systemd's default
    KillMode=control-group, Ctrl-C, a terminal's hang-up) while transactions it answered 202 are
    still being verified: every one is committed, then the server and its children exit. (The
    verifiers died of SIGTERM, and the accepted transactions they held were refused SHUTTING_DOWN;
    SIGHUP killed the server at once.)"""

    s = start_server(kv_ledger, cli=True, session=True)
    children = children_of(s.proc.pid)
    assert len(children) == 4, children  # two verifiers, the sealer, the store
    key = SigningKey(b"\x52" * 32)
    accepted: list[str] = []
    for first in range(1, 3001, 1000):
        batch = [env(key, seq, f"k{seq % 97}", str(seq)) for seq in range(first, first + 1000)]
        results = s.http.post("/api/v1/txs/batch", content=orjson.dumps(batch), headers=JSON_BODY).json()["results"]
        assert {r["status"] for r in results} == {"pending"}, results[:3]
        accepted += [r["txid"] for r in results]
    os.killpg(s.proc.pid, sig)
    s.proc.wait(120)
    assert s.proc.returncode == 0  # a graceful stop, whichever signal asked for it (SIGTERM ended -15)
    assert all_gone(children)
    log = s.log.read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]
    _all_committed(kv_ledger, accepted)


def _all_committed(ledger: Path, accepted: list[str]) -> None:
    """Every one of the ``accepted`` txids is in the stopped server's ledger."""
    from anju.chain.node import DB_NAME
    from anju.ledger.store import Store

    store = Store(ledger / DB_NAME)
    try:
        missing = [t for t in accepted if store.tx_by_id(bytes.fromhex(t)) is None]
        assert not missing, f"{len(missing)} of {len(accepted)} accepted transactions were not committed"
    finally:
        store.close()


def test_a_second_ctrl_c_does_not_lose_what_the_server_accepted(
    kv_ledger: Path, start_server: Callable[..., Server]
) -> None:
    """Two Ctrl-Cs in a row (uvicorn's "force quit") while transactions answered 202 are still being
    verified: the server stops waiting for connections but still runs the application's shutdown,
    whose node stop commits every one, and says so. (uvicorn skipped the shutdown; the node was
    stopped only because asyncio cancelled the lifespan task as the process exited, with a
    KeyboardInterrupt and CancelledError traceback in the log.)"""

    s = start_server(kv_ledger, cli=True, session=True)
    children = children_of(s.proc.pid)
    bodies = [  # a backlog of a second's work, each batch its own signer's (their seqs in order)
        orjson.dumps([env(key, seq, f"k{seq % 89}", str(seq)) for seq in range(1, 1001)])
        for key in (SigningKey(bytes([0x53 + i]) * 32) for i in range(8))
    ]

    def post_batch(body: bytes) -> list[str]:
        with httpx.Client(base_url=s.url, timeout=60) as http:
            results = http.post("/api/v1/txs/batch", content=body, headers=JSON_BODY).json()["results"]
        assert {r["status"] for r in results} == {"pending"}, results[:3]
        return [r["txid"] for r in results]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        accepted = [t for txids in pool.map(post_batch, bodies) for t in txids]
    s.proc.send_signal(signal.SIGINT)
    port = int(s.url.rsplit(":", 1)[1])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until its shutdown begins (two signals sent at once are one)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            break
        time.sleep(0.005)
    s.proc.send_signal(signal.SIGINT)  # the second: uvicorn's force quit
    s.proc.wait(120)
    try:
        assert all_gone(children)
        log = s.log.read_text(errors="replace")
        assert "Traceback" not in log, log[-3000:]
        assert "forced quit: still committing" in log, log[-3000:]
        _all_committed(kv_ledger, accepted)
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_openapi_describes_everything(kv_server: Server) -> None:
    doc = kv_server.http.get("/openapi.json").json()
    paths = doc["paths"]
    for p in (
        "/api/v1/node",
        "/api/v1/txs",
        "/api/v1/txs/{txid}",
        "/api/v1/checkpoint",
        "/api/v1/blocks/{height}",
        "/api/v1/proofs/consistency",
        "/api/v1/state/{key}",
        "/api/v1/events",
    ):
        assert p in paths, p
    examples = paths["/api/v1/txs"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    assert set(examples) == {"kv.put", "kv.delete"}
    assert "RATE_LIMITED" in doc["info"]["x-error-codes"]


def test_cli_tx_send_with_a_keystore_asks_for_its_password(kv_server: Server, tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    from anju.crypto import keystore

    ks = tmp_path / "signer.json"
    keystore.save(ks, SigningKey.generate(), "correct horse", opslimit=2, memlimit=8192 * 1024)
    send = [sys.executable, "-c", "from anju.cli.main import app; app()", "tx", "send", "--kind", "kv.put"]
    send += ["--key", str(ks), "--server", kv_server.url, "--vkey", kv_server.vkey, "--json"]
    env = {k: v for k, v in os.environ.items() if k != "ANJU_PASSWORD"}

    def run(*fields: str, password: str | None = None, stdin: str = "") -> subprocess.CompletedProcess[str]:
        extra = {} if password is None else {"ANJU_PASSWORD": password}
        args = [*send, *(a for f in fields for a in ("--field", f))]
        return subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=60, env={**env, **extra})

    asked = run("key=prompted", "value=a", stdin="correct horse\n")  # typed at the prompt
    assert asked.returncode == 0, asked.stdout + asked.stderr
    assert "Keystore password" in asked.stderr  # the prompt on stderr: stdout is the JSON answer alone
    assert json.loads(asked.stdout)["status"] == "committed", asked.stdout
    from_env = run("key=env", "value=b", password="correct horse")  # no prompt
    assert from_env.returncode == 0 and json.loads(from_env.stdout)["status"] == "committed", from_env.stdout
    wrong = run("key=wrong", "value=c", stdin="not it\n")
    assert wrong.returncode == 1, wrong  # a key that cannot be opened: a failure, not usage
    said = f"cannot open the --key key {ks}: wrong password, or the keystore was altered"
    assert wrong.stderr.splitlines() == ["Keystore password: "], wrong.stderr  # --json: the error on stdout
    assert json.loads(wrong.stdout)["error"] == {
        "code": "KEYSTORE_PASSWORD",
        "message": said,
        "details": {"option": "--key", "path": str(ks)},
    }
    assert kv_server.http.get("/api/v1/state/kv/wrong").json()["value"] is None


def test_cli_serve_and_tx_commands(kv_ledger: Path, start_server: Callable[..., Server], tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    s = start_server(kv_ledger, cli=True)
    keyfile = tmp_path / "k.key"
    key = SigningKey.generate()
    keyfile.write_text(key.seed.hex())
    run = [sys.executable, "-c", "from anju.cli.main import app; app()"]
    out = subprocess.run(
        [
            *run,
            "tx",
            "send",
            "--kind",
            "kv.put",
            "--key",
            str(keyfile),
            "--field",
            "key=cli",
            "--field",
            "value=hello",
            "--server",
            s.url,
            "--vkey",
            s.vkey,
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    rec = json.loads(out.stdout)
    assert rec["status"] == "committed" and rec["verified"]["index"] == 0
    got = subprocess.run(
        [*run, "tx", "get", rec["txid"], "--server", s.url, "--json"], capture_output=True, text=True, timeout=60
    )
    assert got.returncode == 0 and json.loads(got.stdout)["envelope"]["body"]["value"] == "hello"
    again = subprocess.run(
        [
            *run,
            "tx",
            "send",
            "--kind",
            "kv.put",
            "--key",
            str(keyfile),
            "--field",
            "key=x" * 100,
            "--server",
            s.url,
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 1 and json.loads(again.stdout)["error"]["code"] == "MALFORMED_ENVELOPE"


def test_numbers_and_keys_in_paths_and_headers_are_read_strictly(kv_server: Server) -> None:
    """Only decimal digits name a height or an event: not "1_0" (int() reads 10), "+1" or "1\\n"; an
    out-of-range Last-Event-ID is a 400, not a 500; a state key does not lose a trailing newline."""
    h = kv_server.http
    assert h.get("/api/v1/blocks/0").status_code == 200
    for bad in ("1_0", "+1", "1.0", "%201", "1%0A", "9007199254740992", "99999999999999999999"):
        r = h.get(f"/api/v1/blocks/{bad}")
        assert r.status_code in (400, 422) and r.json()["error"]["code"] == "BAD_REQUEST", bad
    for bad in ("9223372036854775808", "-5", "+5", "1_0", "²", "9007199254740992"):
        r = h.get("/api/v1/events", params={"format": "json"}, headers={"Last-Event-ID": bad.encode("latin-1")})
        assert r.status_code == 400 and r.json()["error"]["code"] == "BAD_REQUEST", bad
    assert h.get("/api/v1/events", params={"format": "json"}, headers={"Last-Event-ID": "0"}).status_code == 200
    r = h.get("/api/v1/state/seq%0A")
    assert r.status_code == 400 and r.json()["error"]["code"] == "BAD_REQUEST"


def test_the_sdk_proves_any_state_key_a_kv_ledger_can_hold(kv_server: Server) -> None:
    """A kv key is any printable ASCII: the SDK put it in the URL as it is, so "a?b" asked for kv/a
    (and the answer about kv/a was refused as another key's), "a#b" lost its end, "%41" read as "A",
    and ".." segments were resolved away (kv/../node asked for /api/v1/node)."""
    key = SigningKey.generate()
    names = ["q?x=1", "h#x", "p%41", "p%2Fq", "..", ".", "a/../b", "a/./b", "s p", "a//b", "~!$&'()*+,;=:@"]
    for seq, name in enumerate(names, 1):
        assert post(kv_server, env(key, seq, name, f"value of {name}")).status_code == 200, name
    client = AnjuClient(kv_server.url, kv_server.vkey)
    for name in names:
        assert client.state(f"kv/{name}").value == f"value of {name}", name
    assert client.state("kv/../node").value is None  # (proven absent: it was never put)


def test_integers_in_query_strings_are_decimal_digits_only(kv_server: Server) -> None:
    """pydantic alone reads "1_0" as 10, " 1" and "+1" as 1 and "1.0" as 1; a query integer is
    digits or a BAD_REQUEST, on every route that takes one, and the bounds still apply."""
    h = kv_server.http
    assert post(kv_server, env(SigningKey.generate(), 1)).status_code == 200  # a tree of size >= 1
    routes = [
        ("/api/v1/proofs/consistency", "first", {"second": "1"}),
        ("/api/v1/events", "after", {"format": "json"}),
        ("/api/v1/events", "limit", {"format": "json"}),
    ]
    for path, name, extra in routes:
        assert h.get(path, params={**extra, name: "1"}).status_code == 200, (path, name)
        for bad in ("1_0", " 1", "+1", "1.0", "１", "1e1", "01234567890123456"):
            r = h.get(path, params={**extra, name: bad})
            assert r.status_code == 400 and r.json()["error"]["code"] == "BAD_REQUEST", (path, name, bad)
            assert name in r.json()["error"]["message"], r.json()
    assert err(h.get("/api/v1/events", params={"format": "json", "limit": "0"})) == "BAD_REQUEST"
    assert h.get("/api/v1/events", params={"format": "json", "after": "001"}).status_code == 200  # (event 1 exists)


def test_a_copy_with_forged_signatures_does_not_shut_the_genuine_envelope_out(kv_server: Server) -> None:
    """The txid covers the body only: whoever saw a body can send it with junk signatures. The
    genuine envelope, arriving while that copy is pending, waits for it to be refused and commits."""
    url = kv_server.url + "/api/v1/txs"
    key = SigningKey.generate()
    for seq in range(1, 21):  # a race: repeated, so that the old behaviour could not pass by luck
        real = env(key, seq, k=f"k{seq}")
        fake = {**real, "sigs": [{"key": key.public_hex, "sig": "3" * 128}]}
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            first = pool.submit(httpx.post, url, content=orjson.dumps(fake), headers=JSON_BODY)
            time.sleep(0.002)  # the copy first (usually still pending when the genuine one arrives)
            second = pool.submit(
                httpx.post, url, content=orjson.dumps(real), params={"wait": "commit"}, timeout=30, headers=JSON_BODY
            )
            forged, genuine = first.result(), second.result()
        # the copy: pending then refused, refused at once, or a duplicate of the committed genuine one
        assert forged.status_code in (202, 400, 409), forged.text
        assert genuine.status_code == 200 and genuine.json()["status"] == "committed", genuine.text
    again = post(kv_server, env(key, 20, k="k20"))  # the same genuine envelope once more: a duplicate
    assert again.status_code == 409 and err(again) == "DUPLICATE_TX"


def test_a_405_names_the_allowed_methods_and_a_trailing_slash_is_not_found(kv_server: Server) -> None:
    h = kv_server.http
    r = h.delete("/api/v1/node")
    assert r.status_code == 405 and err(r) == "METHOD_NOT_ALLOWED" and "GET" in r.headers["allow"]
    r = h.get("/api/v1/node/")
    assert r.status_code == 404 and err(r) == "NOT_FOUND"


def test_a_forged_copy_does_not_shut_out_a_batch_item_either(kv_server: Server) -> None:
    url = kv_server.url + "/api/v1/txs"
    key = SigningKey.generate()
    for seq in range(1, 21):  # a race: repeated
        real = env(key, seq, k=f"b{seq}")
        fake = {**real, "sigs": [{"key": key.public_hex, "sig": "3" * 128}]}
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            first = pool.submit(httpx.post, url, content=orjson.dumps(fake), headers=JSON_BODY)
            time.sleep(0.002)
            second = pool.submit(
                httpx.post,
                url + "/batch",
                content=orjson.dumps([real]),
                params={"wait": "commit"},
                timeout=30,
                headers=JSON_BODY,
            )
            first.result()
            answer = second.result()
        assert answer.status_code == 200, answer.text
        assert answer.json()["results"][0]["status"] == "committed", answer.text
    twice = kv_server.http.post(
        "/api/v1/txs/batch", content=orjson.dumps([env(key, 21), env(key, 21)]), headers=JSON_BODY
    )
    assert [r["status"] for r in twice.json()["results"]] == ["pending", "rejected"]


def _raw(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` as it is on a new connection; the answer's status, headers and body."""
    import socket
    from urllib.parse import urlsplit

    u = urlsplit(url)
    with socket.create_connection((u.hostname, u.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


UNREADABLE = [
    b"GARBAGE\r\n\r\n",
    b"GET /api/v1/node HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n",
    b"POST /api/v1/txs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
]


@pytest.mark.parametrize("cli", [False, True], ids=["app", "anju-serve"])
def test_a_request_http_cannot_read_gets_the_json_error_body(
    kv_ledger: Path, start_server: Callable[..., Server], cli: bool
) -> None:
    """uvicorn answers a request its parser refuses before the app sees it; the answer is still the
    contract's JSON error, and the server goes on serving."""
    s = start_server(kv_ledger, cli=cli)
    for request in UNREADABLE:
        status, headers, body = _raw(s.url, request)
        assert status == 400 and headers["content-type"] == "application/json", (request, headers, body)
        error = orjson.loads(body)["error"]
        assert error["code"] == "BAD_REQUEST" and error["message"].startswith("the HTTP request could not be read")
    assert s.http.get("/api/v1/node").status_code == 200


def test_a_scalar_query_parameter_given_twice_is_refused(kv_server: Server) -> None:
    """FastAPI alone keeps the last of ``?limit=1&limit=1000``: whichever copy a proxy kept would win."""
    h = kv_server.http
    r = h.get("/api/v1/events?format=json&limit=1&limit=1000")
    assert err(r) == "BAD_REQUEST" and r.status_code == 400 and "'limit'" in r.json()["error"]["message"]
    assert err(h.get("/api/v1/proofs/consistency?first=1&first=1")) == "BAD_REQUEST"
    key = SigningKey.generate()
    raw = orjson.dumps(env(key, 1))
    for q in ("wait=commit&wait=none", "timeout=5&timeout=6"):
        assert err(h.post(f"/api/v1/txs?{q}", content=raw, headers=JSON_BODY)) == "BAD_REQUEST", q
        assert err(h.post(f"/api/v1/txs/batch?{q}", content=b"[" + raw + b"]", headers=JSON_BODY)) == "BAD_REQUEST", q
    party = "ab" * 32
    ok = h.get(f"/api/v1/events?format=json&party={party}&party={'cd' * 32}&kind=kv.&kind=x.")
    assert ok.status_code == 200  # the event filters are lists: repeating them is how to give several
    assert post(kv_server, env(key, 1)).status_code == 200  # nothing was queued by the refused posts


def test_health_follows_the_ledger(kv_ledger: Path, start_server: Callable[..., Server]) -> None:
    """GET /health answers 200 with the newest block while the node takes transactions (a killed
    verifier turns it into 503: the test below)."""
    s = start_server(kv_ledger)
    key = SigningKey.generate()
    before = s.http.get("/api/v1/health")
    assert before.status_code == 200 and before.json()["status"] == "ok"
    probe = s.http.head("/api/v1/health")  # load balancers that probe with HEAD: the status, no body
    assert probe.status_code == 200 and probe.content == b""
    assert post(s, env(key, 1)).status_code == 200  # (waits for the commit)
    after = s.http.get("/api/v1/health").json()
    node = s.http.get("/api/v1/node").json()
    assert after["height"] > before.json()["height"] and after["tree_size"] == node["tree_size"]
    assert after["time"] == node["time"]


def test_a_killed_verifier_process_gives_json_refusals_and_a_clean_shutdown(
    kv_ledger: Path, start_server: Callable[..., Server]
) -> None:
    """kill -9 of a verifier process under `anju serve`: every later submission is answered with the
    contract's JSON 503 SHUTTING_DOWN (not a bare 500, not MEMPOOL_FULL forever), and SIGTERM still
    stops the server (the children do not keep the parent's signal handlers)."""
    s = start_server(kv_ledger, "--mempool", "5", cli=True)
    key = SigningKey.generate()
    assert post(s, env(key, 1)).status_code == 200
    kids = [int(p) for p in Path(f"/proc/{s.proc.pid}/task/{s.proc.pid}/children").read_text().split()]
    newest = max(kids)  # the verifiers are forked after the block writers (pids go up)
    os.kill(newest, signal.SIGKILL)
    time.sleep(0.5)
    for seq in range(2, 10):
        r = post(s, env(key, seq))
        assert r.status_code == 503 and err(r) == "SHUTTING_DOWN", r.text
    assert s.http.get("/api/v1/node").json()["accepting"] is False
    health = s.http.get("/api/v1/health")  # what a supervisor watches: restart it
    assert health.status_code == 503 and err(health) == "SHUTTING_DOWN" and int(health.headers["retry-after"]) > 0
    assert s.http.head("/api/v1/health").status_code == 503
    t0 = time.monotonic()
    code = s.stop()
    assert time.monotonic() - t0 < 25 and code != -signal.SIGKILL, "SIGTERM did not stop the server"
