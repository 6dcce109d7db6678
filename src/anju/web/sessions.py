"""Server-side sign-in sessions: the decrypted key stays in this process, keyed by a random cookie.

The browser holds only an opaque random token (HttpOnly, SameSite=Lax). Signing out, or the
session idling past :data:`IDLE_SECONDS`, drops the key from memory. Each session also carries
a form token that every state-changing form must echo (CSRF protection).
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

from anju.crypto.keys import SigningKey

COOKIE = "anju_session"
IDLE_SECONDS = 2 * 3600


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

    @property
    def party(self) -> str:
        return self.key.public_hex


class SessionStore:
    """Sessions by token; thread-safe; nothing written to disk."""

    def __init__(self, idle_seconds: float = IDLE_SECONDS) -> None:
        self._by_token: dict[str, Session] = {}
        self._lock = threading.Lock()
        self.idle_seconds = idle_seconds

    def create(self, session: Session) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._expire()
            self._by_token[token] = session
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
                del self._by_token[token]
                return None
            s.last_seen = now
            return s

    def drop(self, token: str | None) -> None:
        if token:
            with self._lock:
                self._by_token.pop(token, None)

    def _expire(self) -> None:
        now = time.monotonic()
        for tok in [t for t, s in self._by_token.items() if now - s.last_seen > self.idle_seconds]:
            del self._by_token[tok]
