"""The portal's session store: bounded per client address and in all, least recently used first."""

from __future__ import annotations

import time

import pytest

from anju.crypto.keys import SigningKey
from anju.web.sessions import Session, SessionsFull, SessionStore


def _session() -> Session:
    return Session(SigningKey.generate(), "tenant", "t", demo=False)


def test_an_address_over_its_share_is_refused_and_signs_nobody_out() -> None:
    """Pushing out that address's oldest session would let anyone behind a shared address (a NAT,
    a proxy) sign everyone else out by signing in again and again."""
    store = SessionStore(per_client=3, max_sessions=100)
    a = [store.create(_session(), "10.0.0.1") for _ in range(3)]
    b = store.create(_session(), "10.0.0.2")
    assert not store.has_room("10.0.0.1") and store.has_room("10.0.0.2")
    with pytest.raises(SessionsFull):
        store.create(_session(), "10.0.0.1")
    assert all(store.get(t) is not None for t in (*a, b)) and len(store) == 4
    again = store.create(_session(), "10.0.0.1", replacing=a[0])  # a browser signing in again takes its own place
    assert store.get(a[0]) is None and store.get(again) is not None and len(store) == 4
    forced = store.create(_session(), "10.0.0.1", force=True)  # a key just registered here gets its session
    assert store.get(forced) is not None and len(store) == 5


def test_a_full_store_refuses_new_sign_ins_and_keeps_the_sessions_in_use() -> None:
    store = SessionStore(per_client=10, max_sessions=3)
    held = [store.create(_session(), f"10.0.0.{i}") for i in range(3)]
    with pytest.raises(SessionsFull):
        store.create(_session(), "10.0.0.9")
    assert all(store.get(t) is not None for t in held) and len(store) == 3
    store.drop(held[0])  # a sign-out frees a slot
    assert store.get(store.create(_session(), "10.0.0.9")) is not None
    with pytest.raises(SessionsFull):
        store.create(_session(), "10.0.0.9")


def test_idle_sessions_expire_and_free_their_slots() -> None:
    store = SessionStore(idle_seconds=0.2, per_client=10, max_sessions=2)
    old = [store.create(_session(), "10.0.0.1") for _ in range(2)]
    time.sleep(0.3)
    fresh = store.create(_session(), "10.0.0.2")  # the idle ones go first
    assert [store.get(t) for t in old] == [None, None]
    assert store.get(fresh) is not None and len(store) == 1


def test_a_session_in_use_is_not_expired_with_the_idle_ones() -> None:
    store = SessionStore(idle_seconds=0.3, per_client=10, max_sessions=10)
    first = store.create(_session(), "a")
    second = store.create(_session(), "a")
    time.sleep(0.2)
    assert store.get(first) is not None  # used: now the most recent
    time.sleep(0.15)
    store.create(_session(), "b")  # expires second (idle 0.35 s) but not first (idle 0.15 s)
    assert store.get(second) is None and store.get(first) is not None


def test_an_ipv6_host_counts_by_its_64_and_a_mapped_ipv4_as_itself() -> None:
    from anju.web.sessions import client_group

    assert client_group("2001:db8:1:2:aaaa::1") == client_group("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert client_group("2001:db8:1:3::1") != client_group("2001:db8:1:2::1")
    assert client_group("::ffff:10.0.0.1") == client_group("10.0.0.1") == "10.0.0.1"
    assert client_group("testclient") == "testclient"
    store = SessionStore(per_client=2, max_sessions=100)
    [store.create(_session(), f"2001:db8:1:2::{i}") for i in range(2)]
    with pytest.raises(SessionsFull):  # a third "address" of the same /64
        store.create(_session(), "2001:db8:1:2::9")


def test_one_party_holds_a_few_sessions_whoever_signs_it_in() -> None:
    store = SessionStore(per_client=100, per_party=2, max_sessions=100)
    key = SigningKey.generate()
    tokens = [store.create(Session(key, "tenant", "t", demo=False), f"10.0.{i}.1") for i in range(3)]
    assert store.get(tokens[0]) is None and all(store.get(t) is not None for t in tokens[1:])
    other = store.create(_session(), "10.0.0.1")
    assert store.get(other) is not None and len(store) == 3


def test_a_session_in_constant_use_still_ends_at_its_lifetime() -> None:
    store = SessionStore(idle_seconds=10, lifetime_seconds=0.6, per_client=10, max_sessions=10)
    token = store.create(_session(), "a")
    for _ in range(3):  # used every 0.1 s: never idle
        assert store.get(token) is not None
        time.sleep(0.1)
    time.sleep(0.4)
    assert store.get(token) is None and len(store) == 0


def test_a_refused_sign_in_keeps_the_session_it_would_have_replaced() -> None:
    store = SessionStore(per_client=1, max_sessions=100)
    mine = store.create(_session(), "10.0.0.1")
    store.create(_session(), "10.0.0.2")
    with pytest.raises(SessionsFull):  # signing in again from a full address (here: one that moved)
        store.create(_session(), "10.0.0.2", replacing=mine)
    assert store.get(mine) is not None  # still signed in where it was
