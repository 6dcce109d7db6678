"""Registry queries (docs/PROTOCOL.md, section "Registry queries"): listings, codes, units, parties.

Every answer is read in one snapshot; records come with state proofs against the checkpoint
returned alongside, and the verification-code and history endpoints return whole bundles.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response, StreamingResponse

from anju.api import schemas
from anju.api.bundles import history_bundle, history_parts_file, listing_bundle, registration_bundle
from anju.api.snapshot import Reader, Snapshot
from anju.api.strict import api_request
from anju.chain.node import Node
from anju.client.parts import PARTS_MEDIA_TYPE, file_chunks
from anju.errors import AnjuError

ID = "^[0-9a-f]{16}$"
KEY = "^[0-9a-f]{64}$"


def ok(obj: Any) -> Response:
    return Response(orjson.dumps(obj), media_type="application/json")


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


class _SnapState:
    """A registry ``StateReader`` over one snapshot."""

    def __init__(self, snap: Snapshot) -> None:
        self._s = snap

    def get(self, key: str) -> bytes | None:
        return self._s.state_get(key)


def _record(s: Snapshot, key: str, what: str) -> dict[str, Any]:
    raw = s.state_get(key)
    if raw is None:
        raise AnjuError("NOT_FOUND", f"no such {what}", key=key)
    return {
        "key": key,
        "value": orjson.loads(raw),
        "proof": s.state_proof(key).to_json(),
        "height": s.head.height,
        "checkpoint": s.head.checkpoint,
    }


def registry_router(node: Node, reader: Reader) -> APIRouter:
    from anju.registry import vcode, views

    r = APIRouter(prefix="/api/v1", responses=schemas.ERRORS, tags=["registry"], dependencies=[Depends(api_request)])

    @r.get("/listings", response_model=schemas.ListingsPage, operation_id="search_listings")
    def search_listings(
        district: Annotated[str | None, Query(max_length=40)] = None,
        street: Annotated[str | None, Query(max_length=60)] = None,
        neighbourhood: Annotated[str | None, Query(max_length=60)] = None,
        min_rent: Annotated[schemas.Digits | None, Query(ge=0, le=2**53 - 1, description="fen per month")] = None,
        max_rent: Annotated[schemas.Digits | None, Query(ge=0, le=2**53 - 1)] = None,
        rooms: Annotated[schemas.Digits | None, Query(ge=0, le=50)] = None,
        min_area: Annotated[schemas.Digits | None, Query(ge=0, le=10_000)] = None,
        max_area: Annotated[schemas.Digits | None, Query(ge=0, le=10_000)] = None,
        unit: Annotated[str | None, Query(pattern=ID)] = None,
        publisher: Annotated[str | None, Query(pattern=KEY)] = None,
        include_inactive: Annotated[
            bool, Query(description="also withdrawn, revoked, expired and suspended ones")
        ] = False,
        limit: Annotated[schemas.Digits, Query(ge=1, le=100)] = 20,
        cursor: Annotated[str | None, Query(pattern=ID, description="the previous page's next")] = None,
    ) -> Response:
        """Search listings (live ones by default), ordered by listing id, paginated."""
        where = ["key LIKE 'listing/%'"]
        args: list[Any] = []
        for col, val in (
            ("district", district),
            ("street", street),
            ("neighbourhood", neighbourhood),
            ("rooms", rooms),
            ("unit", unit),
            ("publisher", publisher),
        ):
            if val is not None:
                where.append(f"json_extract(value,'$.{col}')=?")
                args.append(val)
        for col, op, val in (
            ("rent", ">=", min_rent),
            ("rent", "<=", max_rent),
            ("floor_area_m2", ">=", min_area),
            ("floor_area_m2", "<=", max_area),
        ):
            if val is not None:
                where.append(f"json_extract(value,'$.{col}'){op}?")
                args.append(val)
        date = today()
        if not include_inactive:
            where.append("json_extract(value,'$.status')='live' AND json_extract(value,'$.expires_on')>?")
            args.append(date)
        if cursor is not None:
            where.append("key>?")
            args.append(f"listing/{cursor}")
        sql = f"SELECT key FROM state WHERE {' AND '.join(where)} ORDER BY key LIMIT ?"
        out: list[dict[str, Any]] = []
        with reader.snapshot() as s:
            st = _SnapState(s)
            rows = s.query(sql, [*args, limit + 1])
            for (key,) in rows[:limit]:
                view = views.listing_view(st, key.split("/", 1)[1], date)
                if view is None or (not include_inactive and view["status"] != "live"):
                    continue
                out.append(
                    {
                        "id": view["listing"]["id"],
                        "listing": view["listing"],
                        "unit": view["unit"],
                        "status": view["status"],
                    }
                )
            height = s.head.height
        nxt = rows[limit - 1][0].split("/", 1)[1] if len(rows) > limit else None
        return ok({"listings": out, "next": nxt, "height": height})

    @r.get("/codes/{code}", response_model=schemas.Bundle, operation_id="verify_code")
    def verify_code(
        code: Annotated[str, Path(min_length=1, max_length=32, description="e.g. 7K3QD-9XH2B")],
    ) -> Response:
        """Listing by verification code: a self-contained bundle to verify it offline."""
        canonical = vcode.normalize(code)
        if canonical is None:
            raise AnjuError(
                "BAD_REQUEST", "not a listing verification code (10 Crockford base32 characters)", listing_code=code
            )
        with reader.snapshot() as s:
            entry = s.state_json(f"code/{canonical}")
            if entry is None:
                raise AnjuError("NOT_FOUND", "no listing has this verification code", listing_code=canonical)
            bundle = listing_bundle(s, node.chain_id, canonical, str(entry["listing"]))
            view = views.listing_view(_SnapState(s), str(entry["listing"]), today())
        if view is not None:
            bundle["claims"].update(status=view["status"], reason=view["reason"], date=view["date"])
        return ok(bundle)

    @r.get("/listings/{listing_id}", response_model=schemas.Record, operation_id="get_listing")
    def get_listing(listing_id: Annotated[str, Path(pattern=ID)]) -> Response:
        """A listing record with its state proof and its status today."""
        with reader.snapshot() as s:
            rec = _record(s, f"listing/{listing_id}", "listing")
            view = views.listing_view(_SnapState(s), listing_id, today())
        assert view is not None
        rec["related"] = {
            "status": view["status"],
            "reason": view["reason"],
            "date": view["date"],
            "unit": view["unit"],
            "mandate": view["mandate"],
        }
        return ok(rec)

    @r.get("/units/{unit_id}", response_model=schemas.Record, operation_id="get_unit")
    def get_unit(unit_id: Annotated[str, Path(pattern=ID)]) -> Response:
        """A unit record with its state proof; related: mandates and listings with their status."""
        with reader.snapshot() as s:
            rec = _record(s, f"unit/{unit_id}", "unit")
            view = views.unit_view(_SnapState(s), unit_id, today())
        assert view is not None
        rec["related"] = {"date": view["date"], "mandates": view["mandates"], "listings": view["listings"]}
        return ok(rec)

    @r.get("/units/{unit_id}/leases", response_model=schemas.LeaseHistory, operation_id="get_unit_leases")
    def get_unit_leases(unit_id: Annotated[str, Path(pattern=ID)]) -> Response:
        """The unit's lease history, oldest first, each lease with its phase today."""
        with reader.snapshot() as s:
            view = views.unit_view(_SnapState(s), unit_id, today())
            height = s.head.height
        if view is None:
            raise AnjuError("NOT_FOUND", "no such unit", unit=unit_id)
        return ok({"unit": unit_id, "leases": view["leases"], "height": height})

    @r.get("/leases/{lease_id}", response_model=schemas.Record, operation_id="get_lease")
    def get_lease(lease_id: Annotated[str, Path(pattern=ID)]) -> Response:
        """A lease record with its state proof."""
        with reader.snapshot() as s:
            rec = _record(s, f"lease/{lease_id}", "lease")
            view = views.lease_view(_SnapState(s), lease_id, today())
        rec["related"] = {"phase": None if view is None else view["phase"]}
        return ok(rec)

    @r.get("/parties/{party}", response_model=schemas.Record, operation_id="get_party")
    def get_party(party: Annotated[str, Path(pattern=KEY)]) -> Response:
        """A party's public (pseudonymous) record with its state proof; related: its credit record."""
        with reader.snapshot() as s:
            rec = _record(s, f"party/{party}", "party")
            rec["related"] = {"credit": views.credit_view(_SnapState(s), party)}
        return ok(rec)

    @r.get("/parties/{party}/credit", response_model=schemas.CreditAnswer, operation_id="get_credit")
    def get_credit(party: Annotated[str, Path(pattern=KEY)]) -> Response:
        """The party's credit record (null value until it has history) with a proof and factor explanations."""
        with reader.snapshot() as s:
            if s.state_get(f"party/{party}") is None:
                raise AnjuError("NOT_FOUND", "no such party", party=party)
            key = f"credit/{party}"
            proof = s.state_proof(key).to_json()
            credit = s.state_json(key)
            view = views.credit_view(_SnapState(s), party)
            out = {
                "party": party,
                "credit": credit,
                "proof": proof,
                "height": s.head.height,
                "checkpoint": s.head.checkpoint,
                "explanation": {"score": view["score"], "factors": view["explained"]},
                "archived": view["archived"],
            }
        return ok(out)

    @r.get("/registrations/{number}", response_model=schemas.Bundle, operation_id="verify_registration")
    def verify_registration(
        number: Annotated[str, Path(pattern=r"^XH[0-9]{12}$", description="e.g. XH202600000001")],
    ) -> Response:
        """A lease registration number (备案号): a self-contained bundle proving the registered lease."""
        with reader.snapshot() as s:
            if s.state_get(f"registration/{number}") is None:
                raise AnjuError("NOT_FOUND", "no lease is registered under this number", number=number)
            bundle = registration_bundle(s, node.chain_id, number)
        return ok(bundle)

    def one_bundle(party: str) -> Response:
        with reader.snapshot() as s:
            if s.state_get(f"party/{party}") is None:
                raise AnjuError("NOT_FOUND", "no such party", party=party)
            bundle = history_bundle(s, node.chain_id, party)
        return ok(bundle)

    @r.get(
        "/parties/{party}/history",
        response_model=schemas.Bundle,
        operation_id="export_history",
        responses={
            200: {
                "content": {
                    PARTS_MEDIA_TYPE: {
                        "schema": {"type": "string", "description": "anju-history-parts-v1: one JSON part per line"}
                    }
                },
            }
        },
    )
    async def export_history(
        request: Request,
        party: Annotated[str, Path(pattern=KEY)],
        format: Annotated[
            Literal["bundle", "parts"] | None,
            Query(
                description="bundle: one anju-bundle-v1 document (default; BUNDLE_TOO_LARGE past its limit); "
                f"parts: anju-history-parts-v1 as {PARTS_MEDIA_TYPE}, any size (also Accept: {PARTS_MEDIA_TYPE})"
            ),
        ] = None,
    ) -> Response:
        """The party's rental history as a portable bundle (leases as tenant, payments, credit), or,
        for a history of any size, as a multi-part bundle: JSON lines, streamed."""
        accept = request.headers.get("accept", "")
        if format == "parts" or (format is None and PARTS_MEDIA_TYPE in accept):
            # built into a temporary file in one snapshot, off the event loop; then sent from the file
            parts = await asyncio.to_thread(history_parts_file, reader, node.chain_id, party)
            if parts is None:
                raise AnjuError("NOT_FOUND", "no such party", party=party)
            return StreamingResponse(file_chunks(parts), media_type=PARTS_MEDIA_TYPE)
        return await asyncio.to_thread(one_bundle, party)

    return r
