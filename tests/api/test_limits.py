"""The per-client token bucket, counted by address group (an IPv6 client by its /64)."""

from __future__ import annotations

from anju.api.limits import TokenBucket


def test_a_bucket_refills_at_its_rate_and_an_ipv6_host_has_one_bucket_for_its_64() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2, burst=3, clock=lambda: now[0])
    assert [bucket.take("10.0.0.1") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take("10.0.0.1") == 0.5  # empty: one token comes in half a second
    assert bucket.take("10.0.0.2") == 0.0  # another address, another bucket
    assert bucket.take("::ffff:10.0.0.1") > 0  # the same IPv4 client, written as IPv6
    for host in range(3):
        assert bucket.take(f"2001:db8:1:2::{host + 1}") == 0.0
    assert bucket.take("2001:db8:1:2:ffff::9") > 0  # a fourth address of the same /64 shares its bucket
    assert bucket.take("2001:db8:1:3::1") == 0.0
    now[0] = 0.5
    assert bucket.take("10.0.0.1") == 0.0
