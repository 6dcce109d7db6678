"""Server-side sign-in sessions: the decrypted key stays in this process, keyed by a random cookie.

The browser holds only an opaque random token (HttpOnly, SameSite=Lax). Signing out, the session
idling past :data:`IDLE_SECONDS`, or its :data:`LIFETIME_SECONDS` running out however much it is
used (a stolen token does not live for ever), drops the key from memory; idle sessions are swept at
least every minute while the portal is in use. Each session also carries a form token that every
state-changing form must echo (CSRF protection).

Memory is bounded: at most :data:`PER_CLIENT` sessions per client address (an IPv6 client counts by
its /64) and :data:`PER_PARTY` per party key (a new one pushes out that party's least recently
used), and :data:`MAX_SESSIONS` in all. Past the address's share or the total, a new sign-in is
refused with :class:`SessionsFull` until sessions idle out or sign out: the ones in use are never
pushed out by strangers.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from anju.api.limits import client_group
from anju.crypto.keys import SigningKey

COOKIE = "anju_session"
IDLE_SECONDS = 2 * 3600
LIFETIME_SECONDS = 8 * 3600  # as the cookie's Max-Age, which only the browser enforces
SWEEP_SECONDS = 60
MAX_SESSIONS = 10_000
PER_CLIENT = 64  # an office or a campus behind one NAT address (or one IPv6 /64) still gets room
PER_PARTY = 8  # one key signed in from a few browsers; no more, whoever holds it


class SessionsFull(Exception):
    """Every session slot is taken by a session in use: a new sign-in must wait."""


@dataclass(slots=True)
class Session:
    """One signed-in participant: their key, party record role, and whether it is a demo key."""

    key: SigningKey
    role: str
    label: str
    demo: bool
    form_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    last_seen: float = field(default_factory=time.monotonic)
    created: float = field(default_factory=time.monotonic)
    flash: list[str] = field(default_factory=list)  # sentences to show once on the next page
    last_seq: int = 0  # the highest seq this session has signed, so quick successive actions chain
    client: str = ""  # the address it was signed in from (for the per-client bound)
    keystore: bytes | None = None  # a key made here at registration, encrypted, for the user to download
    sent: dict[str, bool] = field(default_factory=dict)  # forms sent (their form_once): True once done

    @property
    def party(self) -> str:
        return self.key.public_hex

    def claim(self, once: str) -> bool:
        """Take the rendered form ``once`` for this submission: False if it was sent already (done,
        or still being carried out: a second click, a resubmission from the browser's history).
        Only the newest :data:`SENT_KEPT` are remembered."""
        if once in self.sent:
            return False
        self.sent[once] = False
        while len(self.sent) > SENT_KEPT:
            del self.sent[next(iter(self.sent))]  # the oldest
        return True

    def settle(self, once: str, done: bool) -> None:
        """The submission of form ``once`` is over: ``done`` keeps it sent; refused, it may be sent
        again (corrected)."""
        if done:
            self.sent[once] = True
        elif self.sent.get(once) is False:
            del self.sent[once]


SENT_KEPT = 256
"""Forms a session remembers as sent (each page renders fresh ones)."""


class SessionStore:
    """Sessions by token, least recently used first; thread-safe; nothing written to disk."""

    def __init__(
        self,
        idle_seconds: float = IDLE_SECONDS,
        lifetime_seconds: float = LIFETIME_SECONDS,
        max_sessions: int = MAX_SESSIONS,
        per_client: int = PER_CLIENT,
        per_party: int = PER_PARTY,
    ) -> None:
        self._by_token: OrderedDict[str, Session] = OrderedDict()
        self._buckets: dict[str, OrderedDict[str, None]] = {}  # "c:<client group>" / "p:<party>" -> tokens
        self._lock = threading.Lock()
        self.idle_seconds = idle_seconds
        self.lifetime_seconds = lifetime_seconds
        self._swept = time.monotonic()
        self.max_sessions = max_sessions
        self.per_client = per_client
        self.per_party = per_party

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_token)

    @staticmethod
    def _keys(session: Session) -> tuple[str, str]:
        return "c:" + client_group(session.client), "p:" + session.party

    def create(self, session: Session, client: str = "", *, replacing: str | None = None, force: bool = False) -> str:
        """A new token for ``session`` (``replacing``: the browser's session it takes the place of).

        A party over its share pushes out its own least recently used session. An address over its
        share, or a full store, refuses the sign-in (:class:`SessionsFull`): pushing out another
        session of the same address would let anyone behind that address (a NAT, a proxy) sign
        everyone else out. ``force``: a party just registered here, whose key exists nowhere else
        yet, gets its session anyway (the caller checked :meth:`has_room` before registering it)."""
        token = secrets.token_urlsafe(32)
        session.client = client
        with self._lock:
            self._expire()
            by_client, by_party = self._keys(session)
            old = self._by_token.get(replacing) if replacing else None  # freed only if the sign-in succeeds
            here = self._buckets.get(by_client)
            in_client = 0 if here is None else len(here) - (1 if replacing and replacing in here else 0)
            in_all = len(self._by_token) - (1 if old is not None else 0)
            if not force and (in_client >= self.per_client or in_all >= self.max_sessions):
                raise SessionsFull
            if replacing:
                self._remove(replacing)
            mine = self._buckets.get(by_party)
            if mine is not None and len(mine) >= self.per_party:
                self._remove(next(iter(mine)))  # the party's own least recently used
            self._by_token[token] = session
            for bucket in self._keys(session):
                self._buckets.setdefault(bucket, OrderedDict())[token] = None
        return token

    def has_room(self, client: str, replacing: str | None = None) -> bool:
        """Whether a sign-in from ``client`` would get a session now (``replacing``: as in :meth:`create`)."""
        with self._lock:
            self._expire()
            mine: OrderedDict[str, None] = self._buckets.get("c:" + client_group(client)) or OrderedDict()
            mine_n = len(mine) - (1 if replacing and replacing in mine else 0)
            total = len(self._by_token) - (1 if replacing and replacing in self._by_token else 0)
            return mine_n < self.per_client and total < self.max_sessions

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        with self._lock:
            now = time.monotonic()
            if now - self._swept > SWEEP_SECONDS:  # keys of sessions nobody uses leave memory
                self._expire()
                self._swept = now
            s = self._by_token.get(token)
            if s is None:
                return None
            if now - s.last_seen > self.idle_seconds or now - s.created > self.lifetime_seconds:
                self._remove(token)
                return None
            s.last_seen = now
            self._by_token.move_to_end(token)
            for bucket in self._keys(s):
                self._buckets[bucket].move_to_end(token)
            return s

    def drop(self, token: str | None) -> None:
        if token:
            with self._lock:
                self._remove(token)

    def _remove(self, token: str) -> None:
        s = self._by_token.pop(token, None)
        if s is None:
            return
        for bucket in self._keys(s):
            mine = self._buckets[bucket]
            del mine[token]
            if not mine:
                del self._buckets[bucket]

    def _expire(self) -> None:
        """Drop idle sessions: the oldest come first, so this stops at the first one still in use."""
        now = time.monotonic()
        while self._by_token:
            token, s = next(iter(self._by_token.items()))
            if now - s.last_seen <= self.idle_seconds:
                break
            self._remove(token)
