"""The client tests run against the same real server processes as the API tests."""

from tests.api.conftest import kv_ledger, kv_server, plain_http, start_server

__all__ = ["kv_ledger", "kv_server", "plain_http", "start_server"]
