"""Server-side sign-in sessions: the decrypted key stays in this process, keyed by a random cookie.

The browser holds only an opaque random token (HttpOnly, SameSite=Lax). Signing out, or the
session idling past :data:`IDLE_SECONDS`, drops the key from memory. Each session also carries
a form token that every state-changing form must echo (CSRF protection).

Memory is bounded: at most :data:`PER_CLIENT` sessions per client address (a new one pushes out that
address's least recently used) and :data:`MAX_SESSIONS` in all (then a new sign-in is refused with
:class:`SessionsFull` until sessions idle out or sign out: the ones in use are never pushed out by
strangers).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from anju.crypto.keys import SigningKey

COOKIE = "anju_session"
IDLE_SECONDS = 2 * 3600
MAX_SESSIONS = 10_000
PER_CLIENT = 64  # an office or a campus behind one NAT address still gets room


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
    flash: list[str] = field(default_factory=list)  # sentences to show once on the next page
    last_seq: int = 0  # the highest seq this session has signed, so quick successive actions chain
    client: str = ""  # the address it was signed in from (for the per-client bound)
    keystore: bytes | None = None  # a key made here at registration, encrypted, for the user to download

    @property
    def party(self) -> str:
        return self.key.public_hex


class SessionStore:
    """Sessions by token, least recently used first; thread-safe; nothing written to disk."""

    def __init__(
        self, idle_seconds: float = IDLE_SECONDS, max_sessions: int = MAX_SESSIONS, per_client: int = PER_CLIENT
    ) -> None:
        self._by_token: OrderedDict[str, Session] = OrderedDict()
        self._by_client: dict[str, OrderedDict[str, None]] = {}
        self._lock = threading.Lock()
        self.idle_seconds = idle_seconds
        self.max_sessions = max_sessions
        self.per_client = per_client

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_token)

    def create(self, session: Session, client: str = "") -> str:
        """A new token for ``session``. Raises :class:`SessionsFull` when every slot is in use."""
        token = secrets.token_urlsafe(32)
        session.client = client
        with self._lock:
            self._expire()
            mine = self._by_client.get(client)
            if mine is not None and len(mine) >= self.per_client:
                self._remove(next(iter(mine)))  # this address's least recently used
            if len(self._by_token) >= self.max_sessions:
                raise SessionsFull
            self._by_token[token] = session
            self._by_client.setdefault(client, OrderedDict())[token] = None
        return token

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        with self._lock:
            s = self._by_token.get(token)
            if s is None:
                return None
            now = time.monotonic()
            if now - s.last_seen > self.idle_seconds:
                self._remove(token)
                return None
            s.last_seen = now
            self._by_token.move_to_end(token)
            self._by_client[s.client].move_to_end(token)
            return s

    def drop(self, token: str | None) -> None:
        if token:
            with self._lock:
                self._remove(token)

    def _remove(self, token: str) -> None:
        s = self._by_token.pop(token, None)
        if s is None:
            return
        mine = self._by_client[s.client]
        del mine[token]
        if not mine:
            del self._by_client[s.client]

    def _expire(self) -> None:
        """Drop idle sessions: the oldest come first, so this stops at the first one still in use."""
        now = time.monotonic()
        while self._by_token:
            token, s = next(iter(self._by_token.items()))
            if now - s.last_seen <= self.idle_seconds:
                break
            self._remove(token)
