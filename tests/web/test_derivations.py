"""argon2id work in the portal: bounded, on threads of its own, refused (not queued) past the bound."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from anju.web.portal import Derivations, PortalBusy, YourTurnsTaken, needs_derivation


def test_derivations_past_the_bound_are_refused_and_other_work_goes_on() -> None:
    release = threading.Event()

    def slow(x: int) -> int:
        release.wait(10)
        return x

    async def main() -> None:
        d = Derivations(workers=1, waiting=1)
        first = asyncio.ensure_future(d.run("a", slow, 1))
        second = asyncio.ensure_future(d.run("b", slow, 2))  # waits for the one worker
        await asyncio.sleep(0.05)
        with pytest.raises(PortalBusy):
            await d.run("c", slow, 3)
        t0 = time.monotonic()
        assert await asyncio.to_thread(lambda: 42) == 42  # the default threads are free
        assert time.monotonic() - t0 < 1
        release.set()
        assert [await first, await second] == [1, 2]
        assert await d.run("c", slow, 4) == 4  # room again

    asyncio.run(main())


def test_one_client_holds_at_most_its_share_of_the_derivations() -> None:
    """Sign-ins or registrations fired at once from one address cannot fill the queue: past its
    share that address is told to wait (YourTurnsTaken: a 429), and another address still gets in."""
    release = threading.Event()

    def slow(x: int) -> int:
        release.wait(10)
        return x

    async def main() -> None:
        d = Derivations(workers=1, waiting=8, per_client=2)
        mine = [asyncio.ensure_future(d.run("203.0.113.7", slow, i)) for i in (1, 2)]
        await asyncio.sleep(0.05)
        with pytest.raises(YourTurnsTaken):
            await d.run("203.0.113.7", slow, 3)
        other = asyncio.ensure_future(d.run("198.51.100.2", slow, 4))
        await asyncio.sleep(0.05)
        release.set()
        assert [await f for f in (*mine, other)] == [1, 2, 4]
        assert await d.run("203.0.113.7", slow, 5) == 5  # its turns are back

    asyncio.run(main())


def test_every_json_key_file_goes_through_the_derivations_and_a_bare_key_does_not() -> None:
    assert needs_derivation(b' {"anju_keystore": 1, "kdf": {}}')
    assert needs_derivation(b'{"anju\\u005fkeystore": 1}')  # an escaped name: still a keystore to json.loads
    assert needs_derivation(b'\x1c{"anju_keystore": 1}')  # str.strip() takes \x1c for whitespace
    assert needs_derivation(b'{"ed25519_seed": "00"}')
    assert not needs_derivation(b"ab" * 32)
