"""A local consortium: N CometBFT validators, each driving its own Anju ledger over ABCI.

Layout of a consortium directory ``D`` (made by :func:`init`)::

    D/consortium.json          chain id, members, threshold, every node's addresses and ports
    D/authority.key            the housing authority's key (named in the application genesis)
    D/node<i>/cometbft/        CometBFT home: config.toml, genesis.json, validator and node keys
    D/node<i>/anju/            the member's Anju data: genesis.json, node.key (member key),
                               ledger.db, consortium.json (member list and threshold)
    D/node<i>/{app,cometbft}.{pid,log}

Node ``i`` listens on its own loopback address ``127.0.0.<i+1>`` and its own ports
``base + 10*i + {0: p2p, 1: rpc, 2: abci, 3: cosign}``.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from anju.chain.abci.app import MEMBER_FILE, checkpoint_of
from anju.chain.abci.cosign import threshold_for
from anju.chain.apps import load_app
from anju.chain.executor import canonical_genesis, genesis_writes
from anju.chain.node import (
    DB_NAME,
    GENESIS_NAME,
    KEY_NAME,
    handovers,
    now_rfc3339,
    write_genesis,
    write_node_key,
)
from anju.crypto.keys import SigningKey
from anju.errors import AnjuError
from anju.files import write_whole
from anju.ledger.note import Verifier, quorum, vkey_of
from anju.ledger.store import BlockRecord, Store
from anju.registry import edition
from anju.registry.machine import genesis_params

LAYOUT = "consortium.json"
COMETBFT_VERSION = "v0.38.26"
ROOT = Path(__file__).resolve().parents[3]
log = logging.getLogger("anju.consortium")

# CometBFT settings for a LAN consortium (documented in docs/CONSORTIUM.md).
CONSENSUS = {
    "timeout_propose": "3s",
    "timeout_propose_delta": "500ms",
    "timeout_prevote": "200ms",
    "timeout_prevote_delta": "100ms",
    "timeout_precommit": "200ms",
    "timeout_precommit_delta": "100ms",
    "timeout_commit": "300ms",
    "create_empty_blocks": "true",
    "create_empty_blocks_interval": "10s",
    "peer_gossip_sleep_duration": "10ms",
}
MEMPOOL = {"size": "50000", "cache_size": "200000", "recheck": "true", "broadcast": "true"}
P2P = {
    "flush_throttle_timeout": "10ms",
    "send_rate": "51200000",
    "recv_rate": "51200000",
    "addr_book_strict": "false",
    "allow_duplicate_ip": "true",
    "pex": "false",
}
RPC = {"max_request_batch_size": "1000", "max_body_bytes": "10000000", "max_open_connections": "900"}
BLOCK_MAX_BYTES = 4 * 1024 * 1024


def settings_summary() -> dict[str, Any]:
    """The CometBFT settings ``init`` writes (for benchmark reports)."""
    return {
        "consensus": CONSENSUS,
        "mempool": MEMPOOL,
        "p2p": P2P,
        "rpc": RPC,
        "tx_index": "null",
        "storage.discard_abci_responses": True,
        "block_max_bytes": BLOCK_MAX_BYTES,
    }


class ConsortiumError(RuntimeError):
    """The consortium cannot be set up or started; the message says what to do."""


@dataclass(frozen=True)
class NodeInfo:
    index: int
    member: str
    host: str
    p2p: int
    rpc: int
    abci: int
    cosign: int
    node_id: str = ""

    @property
    def dir(self) -> str:
        return f"node{self.index}"

    @property
    def rpc_url(self) -> str:
        return f"http://{self.host}:{self.rpc}"

    @property
    def cosign_url(self) -> str:
        return f"http://{self.host}:{self.cosign}"

    @property
    def api(self) -> int:
        """The member's Anju HTTP API and web portal (p2p port + 4)."""
        return self.p2p + 4

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api}"


def find_cometbft() -> Path | None:
    """The CometBFT binary: $ANJU_COMETBFT, the project's .tools/bin, or PATH."""
    for cand in (os.environ.get("ANJU_COMETBFT"), str(ROOT / ".tools" / "bin" / "cometbft"), shutil.which("cometbft")):
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return Path(cand)
    return None


def _cometbft() -> Path:
    path = find_cometbft()
    if path is None:
        raise ConsortiumError(
            "cometbft not found: run scripts/install-cometbft.sh (make cometbft) first, "
            "or set ANJU_COMETBFT to the binary's path"
        )
    return path


def _set(text: str, section: str | None, key: str, value: str) -> str:
    """Set ``key`` in ``section`` of CometBFT's config.toml (``None``: the top, before any section)."""
    start = 0 if section is None else text.index(f"[{section}]\n")
    end = text.find("\n[", start + 1) if section is not None else text.find("\n[")
    end = len(text) if end < 0 else end
    body = text[start:end]
    quoted = value if value in ("true", "false") or value.isdigit() else f'"{value}"'
    new, n = re.subn(rf"(?m)^{re.escape(key)} = .*$", f"{key} = {quoted}", body, count=1)
    if n != 1:
        raise ConsortiumError(f"config.toml has no {key} in [{section}]")
    return text[:start] + new + text[end:]


def _recheck_on(home: Path) -> bool:
    """Set CometBFT's mempool ``recheck`` as :data:`MEMPOOL` has it in ``home``'s config.toml
    (read when CometBFT starts); True when the file changed. A consortium made before 2026-11-27
    has it off, and the app's proposals now leave a tx out of seq in the mempool, where only
    recheck removes it: it stayed for ever, the mempool filled up, and once the txs a proposal is
    offered (the mempool's first, up to a block's bytes) were all such, no block carried a tx."""
    path = home / "config" / "config.toml"
    text = path.read_text()
    new = _set(text, "mempool", "recheck", MEMPOOL["recheck"])
    if new == text:
        return False
    write_whole(path, new.encode(), mode=path.stat().st_mode & 0o777)
    return True


def init(
    directory: Path,
    *,
    validators: int = 4,
    chain_id: str = "anju-consortium",
    app: str = "anju-registry",
    base_port: int = 26600,
    params: dict[str, Any] | None = None,
    genesis_time: str | None = None,
    ledger: Path | None = None,
) -> dict[str, Any]:
    """Create a consortium of ``validators`` members in ``directory`` (which must not exist or be empty).

    ``ledger``: start from an existing Anju ledger directory (of chain ``chain_id``) instead of an
    empty one. Every member gets a copy of it; CometBFT's genesis then names its last block's
    app hash and ``initial_height`` = its height + 1; each member's Info reports height 0 until
    the first consortium block, so CometBFT calls InitChain (which checks the genesis against the
    ledger) and the consortium's first block is the ledger's next. The earlier checkpoints keep the
    signature of the node that wrote them.

    Nothing is left behind when it fails: the directory is removed (or emptied, if it was there
    and empty), so ``init`` can be run again at once."""
    d = Path(directory)
    if d.exists() and any(d.iterdir()):
        raise ConsortiumError(f"{d} is not empty: a consortium is made in a new or empty --dir (give another)")
    fresh = not d.exists()
    try:
        return _init(d, validators, chain_id, app, base_port, params, genesis_time, ledger)
    except BaseException:
        if fresh:
            shutil.rmtree(d, ignore_errors=True)
        elif d.is_dir():  # it was empty: everything in it is ours
            for child in d.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        raise


def _init(
    d: Path,
    validators: int,
    chain_id: str,
    app: str,
    base_port: int,
    params: dict[str, Any] | None,
    genesis_time: str | None,
    ledger: Path | None,
) -> dict[str, Any]:
    """:func:`init` in the empty (or absent) directory ``d``."""
    cometbft = _cometbft()
    if validators < 1 or validators > 50:
        raise ConsortiumError("validators must be between 1 and 50")
    gtime = genesis_time or now_rfc3339()
    first_height = 1
    if ledger is not None:
        if params is not None:
            raise ConsortiumError("a consortium started from a ledger keeps that ledger's genesis params")
        doc, tip = _existing(Path(ledger), chain_id)
        if gtime <= tip.time:
            raise ConsortiumError(f"genesis time {gtime} is not after the ledger's last block ({tip.time})")
        app, first_height = doc["app"], tip.height + 1
    authority: SigningKey | None = None
    if ledger is None:
        authority = SigningKey.generate()
        if params is None:
            params = genesis_params(authority.public_hex) if app == "anju-registry" else {}
        elif not isinstance(params, dict):
            raise ConsortiumError(f"the genesis params must be a JSON object, not {type(params).__name__}")
        elif app == "anju-registry" and "rules" not in params:
            params = {**params, "rules": edition.RULES}  # a new chain runs the newest rules unless told
        doc = {"chain_id": chain_id, "app": app, "time": gtime, "params": params}
        _check_genesis(doc)  # before anything is made: the application must take these params
    d.mkdir(parents=True, exist_ok=True)
    if authority is not None:
        write_node_key(d / "authority.key", authority)
    canonical_genesis(doc)  # checks the document's domain

    nodes: list[NodeInfo] = []
    keys: list[SigningKey] = []
    handed_over: list[list[Any]] = []  # the copied ledger's signers, then a member's
    handed_at: list[dict[str, Any]] = []  # the last block of each of the copied ledger's signers
    vals: list[dict[str, Any]] = []
    for i in range(validators):
        info = NodeInfo(
            i,
            f"member{i}",
            f"127.0.0.{i + 1}",
            base_port + 10 * i,
            base_port + 10 * i + 1,
            base_port + 10 * i + 2,
            base_port + 10 * i + 3,
        )
        home = d / info.dir / "cometbft"
        subprocess.run([str(cometbft), "init", "--home", str(home)], check=True, capture_output=True)
        node_id = subprocess.run(
            [str(cometbft), "show-node-id", "--home", str(home)], check=True, capture_output=True, text=True
        ).stdout.strip()
        pv = orjson.loads((home / "config" / "priv_validator_key.json").read_bytes())
        vals.append({"address": pv["address"], "pub_key": pv["pub_key"], "power": "10", "name": info.member})
        nodes.append(NodeInfo(**{**info.__dict__, "node_id": node_id}))
        keys.append(SigningKey.generate())

    members = [
        {
            "name": f"{chain_id}/{n.member}",
            "vkey": vkey_of(f"{chain_id}/{n.member}", k.public),
            "cosign_url": n.cosign_url,
        }
        for n, k in zip(nodes, keys, strict=True)
    ]
    threshold = threshold_for(validators)
    base_genesis = orjson.loads((d / nodes[0].dir / "cometbft" / "config" / "genesis.json").read_bytes())
    consensus_params = base_genesis["consensus_params"]
    consensus_params["block"]["max_bytes"] = str(BLOCK_MAX_BYTES)
    cmt_genesis = {
        "genesis_time": gtime,
        "chain_id": chain_id,
        "initial_height": str(first_height),
        "consensus_params": consensus_params,
        "validators": vals,
        "app_hash": "",
        "app_state": doc,
    }
    for n, key in zip(nodes, keys, strict=True):
        home = d / n.dir / "cometbft"
        (home / "config" / "genesis.json").write_bytes(orjson.dumps(cmt_genesis, option=orjson.OPT_INDENT_2))
        peers = ",".join(f"{p.node_id}@{p.host}:{p.p2p}" for p in nodes if p.index != n.index)
        cfg_path = home / "config" / "config.toml"
        text = cfg_path.read_text()
        text = _set(text, None, "proxy_app", f"tcp://{n.host}:{n.abci}")
        text = _set(text, None, "moniker", n.member)
        text = _set(text, None, "log_level", "state:info,consensus:error,*:error")
        text = _set(text, "rpc", "laddr", f"tcp://{n.host}:{n.rpc}")
        text = _set(text, "p2p", "laddr", f"tcp://{n.host}:{n.p2p}")
        text = _set(text, "p2p", "persistent_peers", peers)
        for k, v in P2P.items():
            text = _set(text, "p2p", k, v)
        for k, v in MEMPOOL.items():
            text = _set(text, "mempool", k, v)
        for k, v in RPC.items():
            text = _set(text, "rpc", k, v)
        for k, v in CONSENSUS.items():
            text = _set(text, "consensus", k, v)
        text = _set(text, "tx_index", "indexer", "null")
        text = _set(text, "storage", "discard_abci_responses", "true")
        cfg_path.write_text(text)

        data = d / n.dir / "anju"
        data.mkdir(parents=True)
        (data / GENESIS_NAME).write_bytes(canonical_genesis(doc) + b"\n")
        write_node_key(data / KEY_NAME, key)
        if ledger is None:
            store = Store(data / DB_NAME)
            write_genesis(store, doc, key, f"{chain_id}/{n.member}")
            store.close()
        else:
            _copy_db(Path(ledger) / DB_NAME, data / DB_NAME)
            handed_over, handed_at = _hand_over_keys(
                data / DB_NAME, vkey_of(f"{chain_id}/{n.member}", key.public), first_height
            )
        (data / MEMBER_FILE).write_bytes(
            orjson.dumps(
                {
                    "chain_id": chain_id,
                    "member": n.member,
                    "threshold": threshold,
                    "members": members,
                    "first_height": first_height,
                },
                option=orjson.OPT_INDENT_2,
            )
        )

    # CometBFT's genesis app_hash is that of the block every member's ledger starts from (block 0,
    # or the given ledger's last block).
    g0 = Store(d / nodes[0].dir / "anju" / DB_NAME)
    start = g0.block(first_height - 1)
    g0.close()
    if start is None:
        raise ConsortiumError(f"the members' ledgers have no block {first_height - 1}")
    cmt_genesis["app_hash"] = checkpoint_of(chain_id, start).app_hash().hex().upper()
    for n in nodes:
        path = d / n.dir / "cometbft" / "config" / "genesis.json"
        path.write_bytes(orjson.dumps(cmt_genesis, option=orjson.OPT_INDENT_2))

    layout = {
        "chain_id": chain_id,
        "app": app,
        "threshold": threshold,
        "first_height": first_height,
        "members": members,
        # the signers of the copied blocks (the ledger's key history, the members' left out): a
        # client trusting the members proves the heights of those blocks with them, bounded by the
        # last block each signed (its height, log size and root: what it may vouch for)
        **({"key_history": handed_over[:-1], "handovers": handed_at} if handed_over[:-1] else {}),
        "nodes": [n.__dict__ for n in nodes],
        "cometbft": str(cometbft),
    }
    (d / LAYOUT).write_bytes(orjson.dumps(layout, option=orjson.OPT_INDENT_2))
    return layout


def _check_genesis(doc: dict[str, Any]) -> None:
    """ConsortiumError unless ``doc`` is a genesis document its application can start a ledger from
    (values in the ledger's domain, params the application takes)."""
    try:
        canonical_genesis(doc)
        genesis_writes(load_app(doc["app"]), doc["chain_id"], doc["time"], doc["params"])
    except AnjuError as exc:
        raise ConsortiumError(f"the genesis params are refused: {exc.message}") from None
    except (ValueError, TypeError, KeyError) as exc:  # the application's own words
        raise ConsortiumError(str(exc) or f"the genesis params are refused: {type(exc).__name__}") from None


def _existing(ledger: Path, chain_id: str) -> tuple[dict[str, Any], BlockRecord]:
    """The genesis document and last block of an existing ledger a consortium starts from."""
    if not (ledger / DB_NAME).is_file():
        raise ConsortiumError(f"{ledger} holds no Anju ledger ({DB_NAME})")
    store = Store(ledger / DB_NAME, readonly=True)
    try:
        raw = store.get_meta("genesis")
        tip = store.block(store.height())
    finally:
        store.close()
    if raw is None or tip is None:
        raise ConsortiumError(f"{ledger} holds no genesis")
    doc = orjson.loads(raw)
    if doc.get("chain_id") != chain_id:
        raise ConsortiumError(f"{ledger} is a ledger of chain {doc.get('chain_id')!r}, not {chain_id!r}")
    return doc, tip


def _hand_over_keys(db: Path, member_vkey: str, first_height: int) -> tuple[list[list[Any]], list[dict[str, Any]]]:
    """The copy's checkpoints are signed by the ledger's key up to ``first_height`` - 1, by this
    member from then on: ``meta.verifier_keys`` = [[from height, vkey], ...] (``anju verify``),
    which it returns, with the last block each earlier key signed (:func:`anju.chain.node.handovers`)."""
    store = Store(db)
    try:
        old = store.get_meta("verifier_keys")
        history = orjson.loads(old) if old else []
        if not history:
            key = store.get_meta("verifier_key")
            history = [[0, key.decode()]] if key else []
        history.append([first_height, member_vkey])
        store.set_meta({"verifier_key": member_vkey.encode(), "verifier_keys": orjson.dumps(history)})
        handed_at = handovers(store, history)
    finally:
        store.close()
    return [list(e) for e in history], handed_at


def _copy_db(src: Path, dst: Path) -> None:
    """A consistent copy of a SQLite ledger (the online backup API: safe with a WAL)."""
    with closing(sqlite3.connect(src)) as a, closing(sqlite3.connect(dst)) as b:
        a.backup(b)


def load(directory: Path) -> dict[str, Any]:
    """The consortium's layout (``consortium.json``); ConsortiumError when it is missing, cannot be
    read, or is not a JSON object."""
    path = Path(directory) / LAYOUT
    if not path.exists():
        raise ConsortiumError(f"{path} not found: run `anju consortium init` first")
    try:
        layout = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise ConsortiumError(f"cannot read {path}: {exc.strerror or exc}") from None
    except orjson.JSONDecodeError as exc:
        raise ConsortiumError(f"{path} is not JSON: {exc}") from None
    if not isinstance(layout, dict):
        raise ConsortiumError(f"{path} is not a consortium layout (a JSON object)")
    return layout


def trust_of(directory: Path) -> tuple[list[str], int]:
    """The members' verifier keys and the threshold: what a client trusts (``AnjuClient(verifier_keys=…)``).

    ConsortiumError if ``consortium.json`` lists one member key twice (it would count as two
    signers) or names a threshold other than a quorum of its members (⌊2n/3⌋+1 up to n): the file
    is a client's root of trust, and `init` never writes either; ConsortiumError too when it lacks
    them or a member key is not a verifier key."""
    from anju.errors import VerificationError

    layout = load(directory)
    try:
        vkeys = [m["vkey"] for m in layout["members"]]
        threshold = layout["threshold"]
        if not isinstance(threshold, int) or isinstance(threshold, bool):
            raise TypeError("threshold is not an integer")
        publics = {Verifier.from_vkey(k).public for k in vkeys}
    except (KeyError, TypeError) as exc:
        raise ConsortiumError(
            f"{Path(directory) / LAYOUT} does not name the members' keys and threshold: {exc}"
        ) from None
    except VerificationError as exc:
        raise ConsortiumError(f"{Path(directory) / LAYOUT} names a member key that is not one: {exc.message}") from None
    if len(publics) != len(vkeys):
        raise ConsortiumError(f"{Path(directory) / LAYOUT} lists one member key twice")
    if not vkeys or not quorum(len(vkeys)) <= threshold <= len(vkeys):
        raise ConsortiumError(f"{Path(directory) / LAYOUT}: threshold {threshold} is not a quorum of {len(vkeys)}")
    return vkeys, threshold


def key_history_of(directory: Path) -> list[list[Any]]:
    """Who signed which heights of a consortium started from a ledger, as a client takes it
    (``AnjuClient(…, key_history=…)``, :meth:`anju.client.Trust.with_history`): the copied ledger's
    signers (``key_history`` in ``consortium.json``, ``[[from_height, vkey], ...]``), then
    ``[first_height, <a member's key>]``: the members sign from ``first_height`` on. Each earlier
    key's entry carries, as its third element, the last block it signed as ``handovers`` records
    it (``{"height", "log_size", "log_root"}``), which bounds what its notes may claim. [] for a
    consortium that started empty (its members signed every height), or one whose
    ``consortium.json`` predates the record (made before 2026-11-27); a file without
    ``handovers`` (made before they were recorded) gives the pairs alone, its heights unbounded.

    ConsortiumError when the record is not a list of [height, verifier key] pairs starting at 0,
    heights increasing and below ``first_height``, its hand-overs are not a list of such objects
    (each of the last height of one earlier key, log sizes that can be of one log, a 32-byte root),
    or the members' keys are not there (:func:`trust_of`): the file is a client's root of trust."""
    from anju.errors import VerificationError
    from anju.ledger.handover import handovers_in, merge_handovers

    path = Path(directory) / LAYOUT
    vkeys, _ = trust_of(directory)
    layout = load(directory)
    history = layout.get("key_history")
    records = layout.get("handovers")
    if history is None:
        if records is not None:
            raise ConsortiumError(f"{path}: handovers without the key_history they end")
        return []
    first = layout.get("first_height")
    try:
        if type(first) is not int or first < 1:
            raise ValueError(f"first_height {first!r} is not a height of at least 1")
        if not isinstance(history, list) or not history:
            raise ValueError("key_history is not a list of [from_height, verifier key] pairs")
        entries: list[list[Any]] = []
        for e in history:
            if not (isinstance(e, list) and len(e) == 2 and type(e[0]) is int and isinstance(e[1], str)):
                raise ValueError(f"key_history entry {e!r} is not a [from_height, verifier key] pair")
            Verifier.from_vkey(e[1])
            entries.append([e[0], e[1]])
        heights = [h for h, _ in entries]
        if heights[0] != 0 or any(a >= b for a, b in itertools.pairwise(heights)) or heights[-1] >= first:
            raise ValueError(f"key_history's heights {heights} do not start at 0 and increase below {first}")
        schedule = [*entries, [first, vkeys[0]]]
        if records is not None:
            schedule = merge_handovers(schedule, records)
            handovers_in(schedule)
    except ValueError as exc:
        raise ConsortiumError(f"{path}: {exc}") from None
    except VerificationError as exc:
        raise ConsortiumError(f"{path}: key_history names a key that is not a verifier key: {exc.message}") from None
    return schedule


def nodes_of(layout: dict[str, Any]) -> list[NodeInfo]:
    """The layout's nodes; ConsortiumError when one is not a node of the layout ``init`` writes (a
    port outside 1-65535 included)."""
    try:
        nodes = [NodeInfo(**n) for n in layout["nodes"]]
    except (KeyError, TypeError) as exc:
        raise ConsortiumError(
            f"{LAYOUT} does not list its nodes as `anju consortium init` writes them: {exc}"
        ) from None
    for n in nodes:
        if not isinstance(n.index, int) or not isinstance(n.host, str) or not isinstance(n.member, str):
            raise ConsortiumError(f"{LAYOUT}: node {n.index!r} has no index, host or member name")
        for name in ("p2p", "rpc", "abci", "cosign", "api"):
            port = getattr(n, name)
            if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
                raise ConsortiumError(f"{LAYOUT}: {n.member}'s {name} port {port!r} is not a port (1-65535)")
    return nodes


# -- processes ------------------------------------------------------------------------------------------
def _started(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, /proc/<pid>/stat field 22), or None
    where it cannot be read (no /proc, no such process)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]  # the fields after the command name start at 3
    except (OSError, IndexError):
        return None


def _alive(pid_file: Path) -> int | None:
    """The process a pid file names, if it runs. The file holds ``pid`` and, when it could be read,
    the process's start time: a process with that pid started at another time took the pid of
    one that ended (after a crash or a reboot) and is not ours."""
    try:
        words = pid_file.read_text().split()
        pid = int(words[0])
        if pid <= 0:  # 0 is this process group, -1 every process: never a process of ours to signal
            return None
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):  # no such file or process, not ours, not a number
        return None
    if len(words) > 1 and _started(pid) not in (None, words[1]):
        return None
    try:  # a zombie child of ours is not alive
        wpid, _ = os.waitpid(pid, os.WNOHANG)
        if wpid == pid:
            return None
    except ChildProcessError:
        pass
    return pid


def _spawn(args: list[str], log_path: Path, pid_path: Path, env: dict[str, str] | None = None) -> int:
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, env=env
        )
    started = _started(proc.pid)  # with the pid: a later process given the same pid is not this one
    pid_path.write_text(str(proc.pid) if started is None else f"{proc.pid} {started}")
    return proc.pid


def _wait_port(host: str, port: int, timeout: float, pid_file: Path | None = None) -> bool:
    """Whether ``host:port`` accepts a connection within ``timeout`` seconds (0: tried once); with
    ``pid_file``, False as soon as the process it names is gone (an app that exited at start)."""
    import socket

    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return pid_file is None or _alive(pid_file) is not None
        except OSError:
            pass
        if time.monotonic() >= deadline or (pid_file is not None and _alive(pid_file) is None):
            return False
        time.sleep(0.05)


def up(directory: Path, only: list[int] | None = None, proxy_app: str | None = None, api: bool = True) -> list[str]:
    """Start the app and CometBFT of every node (or of ``only``); already running ones are left alone.

    ``proxy_app="kvstore"`` runs CometBFT's built-in example application instead of Anju (baseline)."""
    d = Path(directory)
    layout = load(d)
    cometbft = layout.get("cometbft") or str(_cometbft())
    started: list[str] = []
    todo = [n for n in nodes_of(layout) if only is None or n.index in only]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if proxy_app is None:  # an app to start needs its ABCI port free (CometBFT would talk to whatever is there)
        for n in todo:
            if _alive(d / n.dir / "app.pid") is None and _wait_port(n.host, n.abci, 0):
                raise ConsortiumError(
                    f"{n.member}: its ABCI address {n.host}:{n.abci} is in use by another program "
                    "(its app is not running); stop that program first"
                )
    for n in todo:
        nd = d / n.dir
        if proxy_app is None and _alive(nd / "app.pid") is None:
            _spawn(
                [
                    sys.executable,
                    "-m",
                    "anju.chain.abci",
                    "--data",
                    str(nd / "anju"),
                    "--abci",
                    f"tcp://{n.host}:{n.abci}",
                    "--cosign",
                    n.cosign_url,
                ],
                nd / "app.log",
                nd / "app.pid",
                env,
            )
            started.append(f"{n.member}/app")
    for n in todo:
        nd = d / n.dir
        if proxy_app is None and not _wait_port(n.host, n.abci, 30, nd / "app.pid"):
            raise ConsortiumError(f"{n.member}: the ABCI app did not start; see {nd / 'app.log'}")
        if _alive(nd / "cometbft.pid") is None:
            if proxy_app is None and _recheck_on(nd / "cometbft"):
                log.warning("%s: mempool recheck was off in its config.toml (made before 2026-11-27): on", n.member)
            args = [cometbft, "node", "--home", str(nd / "cometbft")]
            if proxy_app is not None:
                args += ["--proxy_app", proxy_app]
            _spawn(args, nd / "cometbft.log", nd / "cometbft.pid", env)
            started.append(f"{n.member}/cometbft")
    if api and proxy_app is None:
        for n in todo:
            nd = d / n.dir
            if _alive(nd / "api.pid") is None:
                _spawn(
                    [
                        sys.executable,
                        "-m",
                        "anju.cli.member_api",
                        "--data",
                        str(nd / "anju"),
                        "--rpc",
                        n.rpc_url,
                        "--host",
                        n.host,
                        "--port",
                        str(n.api),
                    ],
                    nd / "api.log",
                    nd / "api.pid",
                    env,
                )
                started.append(f"{n.member}/api")
    return started


def down(directory: Path, only: list[int] | None = None, kill: bool = False, timeout: float = 15.0) -> list[str]:
    """Stop CometBFT, then the app, of every node (or of ``only``). ``kill``: SIGKILL at once (a crash)."""
    d = Path(directory)
    layout = load(d)
    stopped: list[str] = []
    todo = [n for n in nodes_of(layout) if only is None or n.index in only]
    for which in ("api", "cometbft", "app"):
        pids: list[tuple[str, int, Path]] = []
        for n in todo:
            pf = d / n.dir / f"{which}.pid"
            pid = _alive(pf)
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):  # it ended meanwhile: stopped already
                    os.kill(pid, signal.SIGKILL if kill else signal.SIGTERM)
                pids.append((f"{n.member}/{which}", pid, pf))
            else:
                pf.unlink(missing_ok=True)
        deadline = time.monotonic() + timeout
        for name, pid, pf in pids:
            while _alive(pf) is not None and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pf) is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                while _alive(pf) is not None:
                    time.sleep(0.05)
            pf.unlink(missing_ok=True)
            stopped.append(name)
    return stopped


def _get_json(url: str, timeout: float = 2.0) -> Any:
    import httpx

    r = httpx.get(url, timeout=timeout)
    r.raise_for_status()
    return r.json()


def status(directory: Path) -> list[dict[str, Any]]:
    """Per node: running processes, CometBFT height and app hash, Anju height, app hash, cosigned height."""
    d = Path(directory)
    out = []
    for n in nodes_of(load(d)):
        row: dict[str, Any] = {
            "member": n.member,
            "rpc": n.rpc_url,
            "api": n.api_url,
            "cosign": n.cosign_url,
            "cometbft_running": _alive(d / n.dir / "cometbft.pid") is not None,
            "app_running": _alive(d / n.dir / "app.pid") is not None,
        }
        try:
            st = _get_json(f"{n.rpc_url}/status")["result"]["sync_info"]
            row["cometbft_height"] = int(st["latest_block_height"])
            row["cometbft_app_hash"] = st["latest_app_hash"].lower()
            row["catching_up"] = st["catching_up"]
        except Exception:
            row["cometbft_height"] = None
        try:
            row.update({f"anju_{k}": v for k, v in _get_json(f"{n.cosign_url}/status").items()})
        except Exception:
            row["anju_height"] = None
        out.append(row)
    return out
