"""Ports for the test networks, below the kernel's ephemeral range.

Outgoing connections (any process's: HTTP clients, CometBFT dialling its peers) take local ports
from the ephemeral range (32768-60999 on Linux); a network planned there can find one of its
listening ports taken between ``init`` and ``up``. The bases here stay below 32768, and every
port of a network's span is checked to bind on its node's address first.
"""

from __future__ import annotations

import os
import socket


def _free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def port_base(slot: int, validators: int = 4) -> int:
    """A base for ``anju.chain.consortium.init`` (node i uses base + 10*i + 0..9 on 127.0.0.<i+1>).

    ``slot`` keeps the networks of one test run apart; the process id, concurrent runs."""
    for attempt in range(400):
        base = 10_000 + ((os.getpid() + slot * 97 + attempt) % 400) * 50
        if all(_free(f"127.0.0.{i + 1}", base + 10 * i + k) for i in range(validators) for k in range(10)):
            return base
    raise RuntimeError("no free port span below 32768")
