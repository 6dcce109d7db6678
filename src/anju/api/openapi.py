"""OpenAPI details FastAPI cannot infer: the envelope schema and one example per transaction kind."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

EXAMPLE_CHAIN = "anju-xuhui-1"
EXAMPLE_KEY = "b2" * 32
EXAMPLE_SIG = "7f" * 64

ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["body", "sigs"],
    "additionalProperties": False,
    "properties": {
        "body": {
            "type": "object",
            "required": ["chain", "kind", "signer", "seq"],
            "properties": {
                "chain": {"type": "string", "description": "the chain id"},
                "kind": {"type": "string", "description": "transaction kind, e.g. lease.sign"},
                "signer": {"type": "string", "pattern": "^[0-9a-f]{64}$", "description": "hex Ed25519 public key"},
                "seq": {"type": "integer", "minimum": 1, "description": "signer's sequence number, from 1"},
            },
            "additionalProperties": True,
        },
        "sigs": {
            "type": "array",
            "minItems": 1,
            "maxItems": 8,
            "items": {
                "type": "object",
                "required": ["key", "sig"],
                "additionalProperties": False,
                "properties": {
                    "key": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                    "sig": {
                        "type": "string",
                        "pattern": "^[0-9a-f]{128}$",
                        "description": "Ed25519 over 'anju-tx-v1\\n' + JCS(body)",
                    },
                },
            },
        },
    },
}

KV_EXAMPLES: dict[str, dict[str, Any]] = {
    "kv.put": {"kind": "kv.put", "key": "greeting", "value": "你好"},
    "kv.delete": {"kind": "kv.delete", "key": "greeting"},
}


def kind_examples(app_name: str) -> dict[str, dict[str, Any]]:
    """Body examples (without chain/signer/seq) for every kind the application knows."""
    if app_name == "kv":
        return dict(KV_EXAMPLES)
    from anju.registry.kinds import KINDS

    return {name: dict(kind.example) for name, kind in KINDS.items()}


def envelope_example(body: dict[str, Any]) -> dict[str, Any]:
    full = {"chain": EXAMPLE_CHAIN, "signer": EXAMPLE_KEY, "seq": 1, **body}
    return {"body": full, "sigs": [{"key": EXAMPLE_KEY, "sig": EXAMPLE_SIG}]}


def submit_request_body(app_name: str) -> dict[str, Any]:
    examples = {
        name: {"summary": name, "value": envelope_example(body)}
        for name, body in sorted(kind_examples(app_name).items())
    }
    return {
        "required": True,
        "description": "A signed transaction envelope (JSON, at most 64 KiB).",
        "content": {"application/json": {"schema": ENVELOPE_SCHEMA, "examples": examples}},
    }


def batch_request_body(app_name: str) -> dict[str, Any]:
    examples = {
        name: {"summary": name, "value": [envelope_example(body)]}
        for name, body in sorted(kind_examples(app_name).items())
    }
    return {
        "required": True,
        "description": "A JSON array of 1 to 1000 signed transaction envelopes (each at most 64 KiB).",
        "content": {
            "application/json": {
                "schema": {"type": "array", "maxItems": 1000, "items": ENVELOPE_SCHEMA},
                "examples": examples,
            }
        },
    }


def install_openapi(app: FastAPI, app_name: str) -> None:
    """Cache the document once and add the error codes as an extension."""
    original = app.openapi

    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            from anju.errors import CODES

            doc = original()
            doc.setdefault("info", {})["x-error-codes"] = {
                c: {"status": s, "meaning": m} for c, (s, m) in sorted(CODES.items())
            }
            doc["info"]["x-application"] = app_name
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = build  # type: ignore[method-assign]
