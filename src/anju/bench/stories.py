"""A load generator for a workload of *stories*: dependent transactions, sent as real clients would.

The registry's mix (:mod:`anju.demo.workload`) is a day of a district: each story (a lease signed,
registered, its deposit lodged and confirmed; a rent payment and its confirmation; a deposit
returned and reviews...) is a chain of transactions where each step needs the previous one
committed. Over a BFT network that is how clients behave: they wait for a step to commit before
taking the next; and a signer's transactions go, in ``seq`` order, through one member.

:class:`Driver` sends a transaction when

- it is the first of its story, or the previous one of its story is committed (as seen on member 0);
- the same signer's previous transaction has been sent (to the same member, one request in
  flight per member, so CometBFT's mempool sees a signer's transactions in ``seq`` order).

Transactions go as JSON-RPC batches of ``broadcast_tx_async``: ``broadcast_tx_sync`` waits for
each CheckTx in turn, one ABCI socket flush (~20 ms) each, and measured the RPC, not the chain.
A signer's ready transactions that follow one another go in the same batch, in order. A
transaction CheckTx dropped (a member a block behind member 0 for a moment) never commits: a
signer's earliest uncommitted transaction is sent again once everything that was ahead of it has
committed (:meth:`Driver._resend_stalled`); one sent ``MAX_ATTEMPTS`` times is given up.

The same driver runs CometBFT's kvstore (the baseline) on a *mirror* of the workload: one
``key=value`` transaction of the same size per Anju transaction, with the same stories, signers
and routes, so the two chains face the same dependencies.

Commits are read from member 0: Anju's cosigner ``/blocks`` (committed transaction ids per
height) or, for kvstore, CometBFT's ``/block`` per height.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from anju.crypto.tx import parse

BATCH = 250
MAX_ATTEMPTS = 10
STALL = 2.0  # seconds a signer's earliest uncommitted tx waits at least before it is sent again
STALL_MAX = 30.0
SLACK = 1000  # txs committed beyond those ahead of a tx before it counts as dropped
POLL = 0.1

WAIT, QUEUED, SENDING, SENT, COMMITTED, FAILED = range(6)


@dataclass(slots=True)
class Workload:
    """Transactions in submission order with their dependencies (indexes; -1 for none)."""

    raws: list[bytes]
    ids: list[str]  # how the commit feed names each transaction
    route: list[int]  # the member each transaction is sent to (its signer's)
    signer_prev: list[int]
    signer_next: list[int]
    story_prev: list[int]
    story_next: list[int]

    def __len__(self) -> int:
        return len(self.raws)


def _links(keys: Sequence[object]) -> tuple[list[int], list[int]]:
    """prev/next index of the same key."""
    prev, nxt = [-1] * len(keys), [-1] * len(keys)
    last: dict[object, int] = {}
    for i, k in enumerate(keys):
        j = last.get(k)
        if j is not None:
            prev[i], nxt[j] = j, i
        last[k] = i
    return prev, nxt


def registry_workload(raws: list[bytes], story: Sequence[int], nodes: int) -> Workload:
    """The registry mix (in submission order) and each transaction's story."""
    txs = [parse(r) for r in raws]
    signers = [t.signer for t in txs]
    order = {s: n for n, s in enumerate(dict.fromkeys(signers))}
    sp, sn = _links(signers)
    tp, tn = _links(story)
    return Workload(raws, [t.txid for t in txs], [order[s] % nodes for s in signers], sp, sn, tp, tn)


def kv_mirror(w: Workload) -> Workload:
    """The same stories, signers and routes, as CometBFT kvstore ``key=value`` txs of the same sizes."""
    ids = [f"k{i}" for i in range(len(w))]
    raws = [f"{k}={'x' * max(1, len(r) - len(k) - 1)}".encode() for k, r in zip(ids, w.raws, strict=True)]
    return Workload(raws, ids, w.route, w.signer_prev, w.signer_next, w.story_prev, w.story_next)


class Feed:
    """Committed transaction ids on member 0, height by height."""

    def __init__(self) -> None:
        self._client: httpx.AsyncClient | None = None
        self.height = 0  # the last height read
        self.seen: list[str] = []  # ids committed in the heights read, not yet taken

    def take(self) -> list[str]:
        out, self.seen = self.seen, []
        return out

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            raise RuntimeError("a feed is read inside Driver.run or Driver.settle")
        return self._client

    @client.setter
    def client(self, c: httpx.AsyncClient) -> None:
        self._client = c

    async def start(self) -> None:
        raise NotImplementedError

    async def poll(self) -> None:
        """Read the heights committed since the last poll into :attr:`seen` (one height at a time)."""
        raise NotImplementedError


class AnjuFeed(Feed):
    """Anju's cosigner: ``/blocks?from=h`` lists each stored height's committed tx ids."""

    def __init__(self, cosign_url: str) -> None:
        super().__init__()
        self.url = cosign_url

    async def start(self) -> None:
        if self.height == 0:  # later phases carry on from the last height read
            self.height = int((await self.client.get(f"{self.url}/status")).json()["height"])

    async def poll(self) -> None:
        # One page of heights (the cosigner pages /blocks); the next poll carries on after it.
        rows = (await self.client.get(f"{self.url}/blocks", params={"from": self.height + 1})).json()
        for r in sorted(rows, key=lambda r: int(r["height"])):
            if int(r["height"]) == self.height + 1:
                self.seen.extend(r["txids"])
                self.height += 1


class KvFeed(Feed):
    """CometBFT's RPC: ``/block`` for each new height; a kv tx's id is its key."""

    def __init__(self, rpc_url: str) -> None:
        super().__init__()
        self.url = rpc_url

    async def _tip(self) -> int:
        r = await self.client.get(f"{self.url}/status")
        return int(r.json()["result"]["sync_info"]["latest_block_height"])

    async def start(self) -> None:
        if self.height == 0:
            self.height = await self._tip()

    async def poll(self) -> None:
        tip = await self._tip()
        while self.height < tip:
            r = await self.client.get(f"{self.url}/block", params={"height": self.height + 1})
            txs = r.json()["result"]["block"]["data"]["txs"] or []
            self.seen.extend(base64.b64decode(tx).split(b"=", 1)[0].decode() for tx in txs)
            self.height += 1


def quantile(xs: list[float], p: float) -> float | None:
    """The ``p`` quantile (0..1) of sorted ``xs``, rounded to 0.1; None for no samples."""
    return round(xs[min(len(xs) - 1, int(p * len(xs)))], 1) if xs else None


class Driver:
    """Runs a :class:`Workload` against a network; phases share the state (stories carry on)."""

    def __init__(self, w: Workload, rpc_urls: list[str]) -> None:
        self.w = w
        self.urls = rpc_urls
        n = len(w)
        self.state = bytearray(n)
        self.attempts = bytearray(n)
        self.index = {tid: i for i, tid in enumerate(w.ids)}
        self.queues: list[deque[int]] = [deque() for _ in rpc_urls]
        self.wake: list[asyncio.Event] = []  # made in each run (an event belongs to one loop)
        # sent, not committed: when (monotonic) it was last sent, and the commit count by which it
        # should have been committed (what was committed or outstanding then, + SLACK)
        self.open: dict[int, tuple[float, int]] = {}
        self.outstanding = 0  # sending or sent, not yet committed
        self.committed = 0
        self.failed = 0
        self.resent = 0
        self.errors: Counter[str] = Counter()
        self.sent_at: dict[str, float] = {}  # this phase's txs: wall time of their first send
        self.samples: list[tuple[float, int]] = []
        self.request_ms: list[float] = []
        self.blocks_in_window = 0
        self.unsent = n  # never sent, or to be sent again
        self.ran_out: float | None = None  # when everything had been sent (monotonic)
        for i in range(n):
            self._maybe_push(i)

    # -- readiness --------------------------------------------------------------------------------
    def _ready(self, i: int) -> bool:
        w = self.w
        sp, tp = w.signer_prev[i], w.story_prev[i]
        return (sp < 0 or self.state[sp] >= SENT) and (tp < 0 or self.state[tp] == COMMITTED)

    def _maybe_push(self, i: int) -> None:
        if i >= 0 and self.state[i] == WAIT and self._ready(i):
            self._queue(i)

    def _queue(self, i: int) -> None:
        self.state[i] = QUEUED
        m = self.w.route[i]
        self.queues[m].append(i)
        if self.wake:
            self.wake[m].set()

    # -- one batch --------------------------------------------------------------------------------
    def _take(self, m: int, limit: int) -> list[int]:
        """Up to ``limit`` queued txs for member ``m``, each followed by its signer's ready successors."""
        q, w = self.queues[m], self.w
        out: list[int] = []
        while q and len(out) < limit:
            i = q.popleft()
            if self.state[i] != QUEUED:
                continue
            self.state[i] = SENDING
            out.append(i)
            j = w.signer_next[i]
            while j >= 0 and len(out) < limit and self.state[j] == WAIT:
                tp = w.story_prev[j]
                if tp >= 0 and self.state[tp] != COMMITTED:
                    break
                self.state[j] = SENDING
                out.append(j)
                j = w.signer_next[j]
        self.outstanding += len(out)
        self.unsent -= len(out)
        if self.unsent == 0 and self.ran_out is None:
            self.ran_out = time.monotonic()
        return out

    async def _send(self, client: httpx.AsyncClient, m: int, batch: list[int]) -> None:
        """``broadcast_tx_async`` (a sync call waits for each CheckTx in turn: one socket flush each)."""
        body = orjson.dumps(
            [
                {
                    "jsonrpc": "2.0",
                    "id": k,
                    "method": "broadcast_tx_async",
                    "params": {"tx": base64.b64encode(self.w.raws[i]).decode()},
                }
                for k, i in enumerate(batch)
            ]
        )
        t, t_mono = time.time(), time.monotonic()
        answers: dict[int, dict[str, Any]] = {}
        try:
            r = await client.post(self.urls[m], content=body, headers={"Content-Type": "application/json"})
            doc = r.json()
            answers = {int(x["id"]): x for x in (doc if isinstance(doc, list) else [doc])}
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            self.errors[f"request: {type(exc).__name__}"] += len(batch)
        self.request_ms.append((time.monotonic() - t_mono) * 1000)
        due = self.committed + self.outstanding + SLACK
        for k, i in enumerate(batch):
            a = answers.get(k, {})
            err = str((a.get("error") or {}).get("data", ""))
            if "result" not in a and "already exists in cache" not in err:
                self.errors[(err or "no answer")[:60]] += 1  # (resent when it stalls)
            if self.state[i] == SENDING:  # (its commit may already have been seen)
                self.state[i] = SENT
                self.open[i] = (t_mono, due)
            self.sent_at.setdefault(self.w.ids[i], t)
            self._maybe_push(self.w.signer_next[i])

    def _resend_stalled(self, now: float) -> None:
        """A tx CheckTx dropped (a member a block behind member 0, or its signer's earlier tx
        dropped) never commits: send again a signer's earliest uncommitted tx once it has waited
        ``STALL`` s and everything that was ahead of it in the mempools has been committed (or
        ``STALL_MAX`` s); a copy still in a mempool is answered "already exists in cache"."""
        w, done = self.w, self.committed
        stalled = [
            i
            for i, (t, due) in self.open.items()
            if ((now - t > STALL and done >= due) or now - t > STALL_MAX)
            and (w.signer_prev[i] < 0 or self.state[w.signer_prev[i]] == COMMITTED)
        ]
        for i in sorted(stalled):
            del self.open[i]
            self.outstanding -= 1
            self.attempts[i] += 1
            if self.attempts[i] >= MAX_ATTEMPTS:
                self.state[i] = FAILED  # it and the rest of its story and signer will not commit
                self.failed += 1
                continue
            self.resent += 1
            self.unsent += 1
            self._queue(i)
            j = w.signer_next[i]  # its signer's later txs were dropped with it (seq order)
            while j >= 0 and self.state[j] == SENT:
                del self.open[j]
                self.outstanding -= 1
                self.unsent += 1
                self.state[j] = WAIT
                j = w.signer_next[j]

    # -- commits ----------------------------------------------------------------------------------
    def committed_ids(self, ids: list[str]) -> None:
        w = self.w
        for tid in ids:
            i = self.index.get(tid)
            if i is None or self.state[i] == COMMITTED:
                continue
            if self.state[i] in (SENDING, SENT):
                self.outstanding -= 1
                self.open.pop(i, None)
            elif self.state[i] in (WAIT, QUEUED):  # to be sent again, but an earlier send got through
                self.unsent -= 1
            self.state[i] = COMMITTED
            self.committed += 1
            self._maybe_push(w.story_next[i])
            self._maybe_push(w.signer_next[i])

    # -- a phase ----------------------------------------------------------------------------------
    async def run(
        self, feed: Feed, duration: float, *, backlog: int, rate: float | None = None, warmup: float = 4.0
    ) -> dict[str, Any]:
        """Send for ``duration`` s (at most ``backlog`` outstanding; at most ``rate`` tx/s if given).

        Returns the commit rate after ``warmup`` s and what was sent; waits for nothing after."""
        self.sent_at = {}
        self.samples = []
        self.wake = [asyncio.Event() for _ in self.urls]
        self.request_ms = []
        stop = time.monotonic() + duration
        t0 = time.monotonic()
        budget = [0.0, t0]  # tokens, last refill (rate-limited runs)
        start_committed = self.committed
        sizes: list[int] = []

        async def sender(m: int, client: httpx.AsyncClient) -> None:
            while time.monotonic() < stop:
                limit = min(BATCH, backlog - self.outstanding)
                if rate is not None:
                    now = time.monotonic()
                    budget[0] = min(budget[0] + (now - budget[1]) * rate, float(4 * BATCH))
                    budget[1] = now
                    limit = min(limit, int(budget[0]))
                if limit <= 0 or not self.queues[m]:
                    self.wake[m].clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.wake[m].wait(), 0.02)
                    continue
                batch = self._take(m, limit)
                if not batch:
                    continue
                if rate is not None:
                    budget[0] -= len(batch)
                sizes.append(len(batch))
                await self._send(client, m, batch)

        async def watch(client: httpx.AsyncClient) -> None:
            await feed.start()
            self.samples.append((time.monotonic(), self.committed))
            while time.monotonic() < stop + 0.3:
                with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                    await feed.poll()
                self.committed_ids(feed.take())
                self._resend_stalled(time.monotonic())
                self.samples.append((time.monotonic(), self.committed))
                await asyncio.sleep(POLL)

        n = len(self.urls) + 2  # one request in flight per member keeps a signer's txs in order
        limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            feed.client = client
            await asyncio.gather(watch(client), *(sender(m, client) for m in range(len(self.urls))))
        end = min(time.monotonic(), stop)
        # The commit rate while the chain was fed: until the end, or until all had been sent.
        fed_until = min(end, self.ran_out) if self.ran_out is not None else end
        tps = self._rate(t0 + warmup, fed_until)
        sizes.sort()
        req = sorted(self.request_ms)
        left = sum(1 for s in self.state if s in (WAIT, QUEUED))
        head = next((i for i, st in enumerate(self.state) if st != COMMITTED), -1)
        return {
            "seconds": round(end - t0, 2),
            "sent": len(self.sent_at),
            "committed": self.committed - start_committed,
            "tps": round(tps, 1),
            "rate_window_s": [round(warmup, 1), round(fed_until - t0, 1)],
            "commit_steps_in_window": self.blocks_in_window,  # member-0 polls that saw new commits
            "ran_out_of_txs": self.ran_out is not None and self.ran_out < stop,
            "outstanding_at_end": self.outstanding,
            "batch_p50": sizes[len(sizes) // 2] if sizes else 0,
            "requests": len(sizes),
            "request_ms": {"p50": quantile(req, 0.5), "p99": quantile(req, 0.99), "max": quantile(req, 1.0)},
            "errors": dict(self.errors.most_common(8)),
            "resent": self.resent,
            "given_up": self.failed,
            "unsent_left": left,
            # the earliest tx not committed: what the rest may be waiting for
            "head": {"index": head, "state": self.state[head], "attempts": self.attempts[head]} if head >= 0 else None,
        }

    def _rate(self, t_from: float, t_to: float) -> float:
        """Commit rate over whole block intervals between ``t_from`` and ``t_to``.

        Counts move in steps of a block (thousands of txs under load): the rate runs from the first
        block seen after ``t_from`` to the last one seen by ``t_to``, so no partial interval skews it."""
        steps = [(t, n) for (t, n), (_, before) in zip(self.samples[1:], self.samples, strict=False) if n != before]
        inside = [x for x in steps if t_from <= x[0] <= t_to]
        self.blocks_in_window = len(inside)
        if len(inside) < 3:  # too few blocks for whole intervals: the plain count over the window
            s = self.samples
            if len(s) < 2:
                return 0.0
            a = min(s, key=lambda x: abs(x[0] - t_from))
            b = min(s, key=lambda x: abs(x[0] - t_to))
            return (b[1] - a[1]) / (b[0] - a[0]) if b[0] > a[0] else 0.0
        (ta, na), (tb, nb) = inside[0], inside[-1]
        return (nb - na) / (tb - ta)

    async def settle(self, feed: Feed, timeout: float = 60) -> int:
        """Send nothing; follow commits until nothing is outstanding (or ``timeout``); what is left."""
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=30) as client:
            feed.client = client
            while self.outstanding > 0 and time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                    await feed.poll()
                self.committed_ids(feed.take())
                self._resend_stalled(time.monotonic())  # (queued for the next phase)
                await asyncio.sleep(POLL)
        return self.outstanding
