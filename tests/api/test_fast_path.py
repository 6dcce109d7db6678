"""The submission fast path when the node itself fails: an answer, never a hang."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from tests.api.conftest import JSON_BODY, free_port
from tests.conftest import kv_put

from anju.api.app import create_app
from anju.chain.node import Node
from anju.crypto.keys import SigningKey
from anju.errors import Overloaded


@pytest.fixture
def failing(kv_data: Path) -> Iterator[tuple[str, list[Exception]]]:
    """A real server whose node raises the exception put in the list on every parsed submission."""
    node = Node(kv_data, verify_workers=0)
    raised: list[Exception] = []

    def broken(_txs: object, _slots: object) -> None:
        raise raised[0]

    node.submit_parsed_to = broken  # type: ignore[method-assign]
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(node), host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", raised
    server.should_exit = True
    thread.join(30)


@pytest.mark.parametrize(
    ("failure", "status"),
    [(Overloaded("MEMPOOL_FULL", "full", retry_after=1), 503), (RuntimeError("a bug in the node"), 500)],
)
def test_a_node_that_raises_on_submission_gets_an_answer(
    failing: tuple[str, list[Exception]], failure: Exception, status: int
) -> None:
    url, raised = failing
    raised.append(failure)
    k = SigningKey(b"f" * 32)
    one = httpx.post(url + "/api/v1/txs?wait=commit", content=kv_put(k, 1), timeout=10, headers=JSON_BODY)
    batch = httpx.post(url + "/api/v1/txs/batch", content=b"[" + kv_put(k, 1) + b"]", timeout=10, headers=JSON_BODY)
    assert one.status_code == status and batch.status_code == status, (one.text, batch.text)
    if isinstance(failure, Overloaded):
        assert one.json()["error"]["code"] == batch.json()["error"]["code"] == "MEMPOOL_FULL"
