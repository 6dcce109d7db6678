"""The portal: pages and actions on the same process (and the same node) as the HTTP API.

Every action is a transaction signed with the signed-in participant's own key, held only in
their server-side session; the signer of a body is always that key, so no page can act for
anyone else. Refusals come back as sentences next to the field they concern, in the reader's
language (:mod:`anju.web.refusals`).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import re
import secrets
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar
from urllib.parse import quote, urlsplit

import orjson
import segno
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.datastructures import URL
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from anju.api.app import HEX64, Settings
from anju.api.bundles import history_bundle, history_parts_file
from anju.api.limits import BodySizeLimit, TokenBucket, client_group
from anju.api.snapshot import Reader as SnapshotReader
from anju.client.parts import PARTS_MEDIA_TYPE, file_chunks
from anju.client.sdk import parse_key_file
from anju.client.verify import disclose
from anju.crypto import keystore, tx
from anju.crypto.commitments import commit
from anju.crypto.keys import SigningKey
from anju.errors import AnjuError, Overloaded
from anju.registry import vcode
from anju.registry.credit import FACTORS
from anju.registry.dates import add_days, overlaps
from anju.registry.kinds import KINDS
from anju.registry.schema import BodyCheck
from anju.registry.status import (
    end_days,
    lease_terms_refusal,
    mandate_live,
    overdue_months,
    subleases_cut_short,
    unconfirmed_months,
)
from anju.web import demo
from anju.web.forms import FORMS, Form, body_fields, parse
from anju.web.i18n import LANGS, N_, Gettext, gettext_for, pick_lang
from anju.web.offers import OPEN_DAYS, OPEN_PER_OFFERER, OPEN_PER_TENANT, Offer, Offers
from anju.web.reads import NodeLike, Reader, Record, Search
from anju.web.refusals import Refusal, from_error
from anju.web.sessions import COOKIE, MAX_SESSIONS, Session, SessionsFull, SessionStore
from anju.web.terms import EVENTS

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
STATIC = HERE / "static"
TEMPLATES = HERE / "templates"
HTMX = "htmx-2.0.4.min.js"
SUBMIT_TIMEOUT_S = 30.0


def yuan(fen: int | None) -> str:
    """Fen as yuan for people: 950000 -> '9,500', 950050 -> '9,500.50'."""
    if fen is None:
        return "—"
    whole, cents = divmod(int(fen), 100)
    return f"{whole:,}" if cents == 0 else f"{whole:,}.{cents:02d}"


def short(key: str | None) -> str:
    return "" if not key else f"{key[:8]}…{key[-4:]}"


@dataclass(slots=True)
class Ctx:
    """One request as the templates see it."""

    request: Request
    lang: str
    _: Gettext
    session: Session | None
    token: str | None
    reader: Reader
    set_lang: bool


class Portal:
    """State shared by every request: the node, sessions, pending offers, templates."""

    def __init__(
        self,
        node: NodeLike,
        data_dir: Path | None = None,
        public_url: str | None = None,
        max_sessions: int = MAX_SESSIONS,
    ) -> None:
        self.node = node
        self.public_url = public_url.rstrip("/") if public_url else None  # printed in listings' QR codes
        self.data_dir = data_dir if data_dir is not None else _data_dir(node)
        self.sessions = SessionStore(max_sessions=max_sessions)
        self.derivations = Derivations()
        # keystore sign-ins per client address (each costs an argon2id derivation, right password or not)
        self.keystore_signins = TokenBucket(rate=0.5, burst=20)
        self.offers = Offers(None if self.data_dir is None else self.data_dir / "web-offers.db")
        self.bundles: SnapshotReader | None = None  # the API's ledger reader, for bundles (mount_web)
        self.demo = demo.load(self.data_dir)
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(yuan=yuan, short=short)
        self.env.globals.update(FORMS=FORMS, FACTORS=FACTORS, HTMX=HTMX, LANGS=LANGS, OFFER_KINDS=OFFER_KINDS)
        self.env.globals["form_once"] = lambda: secrets.token_urlsafe(12)  # each rendered form: sent once

    def history_bundle(self, party: str) -> dict[str, Any] | None:
        """The party's history bundle, as ``GET /api/v1/parties/{party}/history`` gives it, read
        through the API's own reader (None without one, or for an unknown party)."""
        if self.bundles is None:
            return None
        with self.bundles.snapshot() as snap:
            if snap.state_get(f"party/{party}") is None:
                return None
            return history_bundle(snap, self.node.chain_id, party)

    def history_parts(self, party: str, disclosure: tuple[str, str] | None = None) -> IO[bytes] | None:
        """The party's history in parts (any size), as ``GET /api/v1/parties/{party}/history?format=parts``
        gives it, in a temporary file (None without a reader, or for an unknown party); ValueError if
        ``disclosure`` does not open the party's commitment."""
        if self.bundles is None:
            return None
        return history_parts_file(self.bundles, self.node.chain_id, party, disclosure)

    async def history_download(
        self, party: str, name: str, disclosure: tuple[str, str] | None = None
    ) -> Response | None:
        """The party's history as a download named ``name`` (.json), built off the event loop: the
        single bundle, or past its limit the parts (``name`` .jsonl), sent from their file. None for
        an unknown party; ValueError for a disclosure that does not open its commitment."""
        headers = {"Content-Disposition": f'attachment; filename="{name}.json"', "Cache-Control": "no-store"}
        try:
            bundle = await asyncio.to_thread(self.history_bundle, party)  # proofs: off the event loop
        except AnjuError as exc:
            if exc.code != "BUNDLE_TOO_LARGE":
                raise
            parts = await asyncio.to_thread(self.history_parts, party, disclosure)
            if parts is None:
                return None
            headers["Content-Disposition"] = f'attachment; filename="{name}.jsonl"'
            return StreamingResponse(file_chunks(parts), media_type=PARTS_MEDIA_TYPE, headers=headers)
        if bundle is None:
            return None
        if disclosure is not None:
            bundle = disclose(bundle, *disclosure)
        return Response(
            orjson.dumps(bundle, option=orjson.OPT_INDENT_2), media_type="application/json", headers=headers
        )

    # -- request plumbing ------------------------------------------------------------------------
    def ctx(self, request: Request) -> Ctx:
        q = request.query_params.get("lang")
        lang = pick_lang(q, request.cookies.get("lang"), request.headers.get("accept-language"))
        token = request.cookies.get(COOKIE)
        return Ctx(request, lang, gettext_for(lang), self.sessions.get(token), token, Reader(self.node), q in LANGS)

    def render(
        self, c: Ctx, name: str, status: int = 200, headers: dict[str, str] | None = None, **values: Any
    ) -> HTMLResponse:
        other = "en" if c.lang == "zh" else "zh"
        page = self.env.get_template(name).render(
            c=c,
            _=c._,
            lang=c.lang,
            html_lang=LANGS[c.lang][1],
            session=c.session,
            r=c.reader,
            switch_url=_switch_url(c.request, other, values.get("nxt")),
            other_lang=other,
            path=c.request.url.path,
            # only a whole page shows the flash: a fragment (a form htmx re-renders, e.g. a double click's
            # second sending refused as FORM_RESENT) would take the first sending's "Done" and salt unseen
            flash=[] if name.startswith("_") else self._take_flash(c),
            **values,
        )
        resp = HTMLResponse(page, status_code=status, headers=headers)
        resp.headers.update(PAGE_HEADERS)
        if c.session is not None:  # a signed-in page: not kept by the browser (Back after sign-out shows nothing)
            resp.headers["Cache-Control"] = "no-store"
        if c.set_lang:
            resp.set_cookie("lang", c.lang, max_age=365 * 86400, samesite="lax")
        return resp

    def _take_flash(self, c: Ctx) -> list[str]:
        if c.session is None:
            return []
        out = list(c.session.flash)
        c.session.flash.clear()
        return out

    # -- submitting ------------------------------------------------------------------------------
    async def send(self, envelope: dict[str, Any]) -> Any:
        """Submit a signed envelope to the node and wait until it is durably committed."""
        fut = self.node.submit(orjson.dumps(envelope))  # type: ignore[attr-defined]
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(fut)), SUBMIT_TIMEOUT_S)
        except TimeoutError:
            raise AnjuError("TIMEOUT", "not committed within the wait limit") from None

    async def sign_and_send(self, c: Ctx, body_fields: dict[str, Any], kind: str) -> Any:
        s = c.session
        assert s is not None
        seq = max(c.reader.last_seq(s.party), s.last_seq) + 1
        body = {"chain": self.node.chain_id, "kind": kind, "signer": s.party, "seq": seq, **body_fields}
        receipt = await self.send(tx.sign(body, [s.key]))
        s.last_seq = seq
        return receipt

    # -- sign-in ---------------------------------------------------------------------------------
    def start_session(
        self,
        c: Ctx,
        key: SigningKey,
        *,
        demo_label: str | None = None,
        sealed: bytes | None = None,
        flash: list[str] | None = None,
        next_url: str = "/me",
    ) -> Response:
        """Sign ``key`` in (``sealed``: its keystore, made here, to download; ``flash``: sentences
        for the next page) and go to ``next_url`` (already checked by :func:`_safe_next`). Raises
        ValueError (not a party) or :class:`SessionsFull`."""
        role = c.reader.role_of(key.public_hex)
        if role is None:
            raise ValueError("not a party")
        label = demo_label or c.reader.party_name(key.public_hex)
        client = c.request.client.host if c.request.client else ""
        session = Session(key, role, label, demo_label is not None, flash=list(flash or ()), keystore=sealed)
        # (a key made here at registration exists nowhere else yet: it gets its session whatever the limits)
        token = self.sessions.create(session, client, replacing=c.token, force=sealed is not None)
        resp = RedirectResponse(next_url, status_code=303)
        resp.set_cookie(COOKIE, token, httponly=True, samesite="lax", max_age=8 * 3600, secure=self.https(c.request))
        return resp

    def https(self, request: Request) -> bool:
        """Whether the visitor reaches the site over https: the request came so, or the site's public
        address (``public_url``) is https, as when a proxy ends TLS and speaks plain http to us (then
        the session cookie must still be ``Secure``, never sent over plain http)."""
        return request.url.scheme == "https" or (self.public_url or "").lower().startswith("https://")

    def sessions_full(self, c: Ctx) -> Response:
        """503: every session slot is in use (see :mod:`anju.web.sessions`)."""
        err = Refusal()
        err.add(c._, "SESSIONS_FULL")
        return self.render(c, "signin.html", 503, {"Retry-After": "300"}, demo=self.demo, err=err)

    def too_large(self, request: Request) -> Response | None:
        """The answer to a portal form whose body is larger than the server takes (its body unread):
        the form's page with a sentence (413), or for htmx that sentence put at the top of the form
        (which keeps what was typed; htmx swaps no 4xx); None for a path that is not a portal form."""
        c = self.ctx(request)
        path, err = request.url.path, Refusal()
        if path == "/signin":
            err.add(c._, "PAYLOAD_TOO_LARGE", "keyfile", ("keyfile", "password"))
            return self.render(c, "signin.html", 413, demo=self.demo, err=err, next_url="/me")
        err.add(c._, "FORM_TOO_LARGE")
        if path == "/register":
            values = {"role": "tenant"}
            return self.render(c, "register.html", 413, err=err, values=values, roles=REGISTER_ROLES, next_url="/me")
        form = FORMS.get(path.removeprefix("/act/")) if path.startswith("/act/") else None
        if form is None:
            return None
        target = request.headers.get("hx-target") or ""
        if request.headers.get("hx-request") and _HTML_ID.fullmatch(target):
            page = "".join(f'<p class="error" role="alert">{escape(m)}</p>' for m in err.form)
            headers = {
                **PAGE_HEADERS,
                "HX-Retarget": f"#{target}",
                "HX-Reswap": "afterbegin",
                "Cache-Control": "no-store",
            }
            return HTMLResponse(page, headers=headers)
        opts = options_for(c.reader, c.session)
        return self.render(c, "action.html", 413, form=form, values={}, err=err, opts=opts, nxt="/me")


OFFER_KINDS = {
    "lease.sign": N_("A new lease"),
    "lease.renew": N_("A renewal of your lease"),
    "lease.terminate": N_("Ending your lease by mutual agreement"),
    "lease.terminate.subleases": N_(
        "Ending a lease by mutual agreement sooner than its subleases' notice, with their subtenants' agreement"
    ),
    "sublease": N_("A sublease (转租), with the owner's consent"),
    "sublease.renew": N_("A renewal of a sublease, with the owner's consent"),
    "subsublease": N_("A sublease of a sublease (转租), with its sub-landlord's landlord's and the owner's consent"),
    "subsublease.renew": N_(
        "A renewal of a sublease of a sublease, with its sub-landlord's landlord's and the owner's consent"
    ),
}
"""What an offer asks the tenant to countersign, by transaction kind (``sublease``: a ``lease.sign``
naming its parent lease; ``sublease.renew``: a renewal the owner must consent to; ``subsublease``
and ``subsublease.renew``: the same needing two consents; ``lease.terminate.subleases``: a mutual
end asking subtenants to agree to leave sooner than their notice, :attr:`Offer.what`)."""

REGISTER_ROLES = (
    ("tenant", N_("tenant")),
    ("landlord", N_("landlord")),
    ("agency", N_("agency")),
    ("agent", N_("agent")),
    ("bank", N_("bank")),
)
"""The roles a visitor may register as (the housing authority is fixed at genesis)."""


def _switch_url(request: Request, lang: str, nxt: Any = None) -> str:
    """The language switch's link: this page in ``lang``. A page answering a POST (a refused form
    sent without JavaScript, a refused sign-in or registration) switches to the page the form is on:
    its own URL is no page (GET /act/... answered a bare JSON 405)."""
    url = request.url
    if request.method not in ("GET", "HEAD"):
        path = url.path
        if path.startswith("/act/"):
            path = _safe_next(nxt if isinstance(nxt, str) else None)
        elif path not in ("/signin", "/register"):  # (POST /me/history, /signin/demo: no page of their own)
            path = "/me"
        return _relative(URL(path).include_query_params(lang=lang))
    return _relative(url.include_query_params(lang=lang))


def _relative(url: URL) -> str:
    """``url`` without scheme and host: a link on the page never repeats the request's Host header."""
    return url.path + ("?" + url.query if url.query else "")


def _data_dir(node: Any) -> Path | None:
    data = getattr(node, "data", None)
    return Path(data) if data is not None else None


def _safe_next(url: str | None, default: str = "/me") -> str:
    """``url`` if it is a path on this site, else ``default`` (browsers read "/\\host" and "/<tab>/host"
    as another site: no backslash or control character is allowed, and no scheme or host)."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return default
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        return default
    parts = urlsplit(url)
    return url if not parts.scheme and not parts.netloc else default


_QUERY_INT_MAX = 2**53 - 1  # a search bound beyond any value the ledger can hold (and within SQLite's integers)


# Every page: scripts and everything else only from the portal itself (htmx and live.js are served
# from /static; no template has inline script), never framed, no MIME sniffing, the path not sent
# to other sites. (htmx inserts its indicator style element: inline styles stay allowed.)
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Vary": "Cookie, HX-Request",
}


def _int(v: str | None) -> int | None:
    """A query parameter as a whole number, clamped to ±(2^53 - 1); None if absent or not one."""
    if v is None or v == "" or len(v) > 30:
        return None
    try:
        n = int(v)
    except ValueError:
        return None
    return max(-_QUERY_INT_MAX, min(_QUERY_INT_MAX, n))


def _fen(v: str | None) -> int | None:
    n = _int(v)
    return None if n is None else max(-_QUERY_INT_MAX, min(_QUERY_INT_MAX, n * 100))


def qr_svg(data: str, title: str) -> Markup:
    """An inline SVG QR code (segno) for ``data``, named ``title`` for screen readers (segno escapes it)."""
    qr = segno.make(data, error="m")
    return Markup(qr.svg_inline(scale=4, dark="#111", light="#fff", title=title))


T = TypeVar("T")


class PortalBusy(Exception):
    """Too many password derivations are waiting: answer 503 rather than queue more."""


class YourTurnsTaken(Exception):
    """One client address already has its share of password derivations running or waiting."""


class Derivations:
    """argon2id work (keystore sign-ins and registrations): at most two at once (each holds
    MEMLIMIT, 256 MiB), on threads of their own so that a flood of wrong-password sign-ins never
    holds up the rest of the portal, and at most ``waiting`` more queued; beyond that
    :class:`PortalBusy` (the sign-in page says so with a 503). One client address holds at most
    ``per_client`` of those places (:class:`YourTurnsTaken`, a 429): registrations or sign-ins
    fired at once from one address cannot fill the queue and turn every other visitor away."""

    def __init__(self, workers: int = 2, waiting: int = 8, per_client: int = 2) -> None:
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="anju-argon2")
        self._limit = workers + waiting
        self._per_client = per_client
        self._count = 0  # changed on the event loop only
        self._clients: collections.Counter[str] = collections.Counter()

    async def run(self, client: str, fn: Callable[..., T], *args: Any) -> T:
        if self._clients[client] >= self._per_client:
            raise YourTurnsTaken
        if self._count >= self._limit:
            raise PortalBusy
        self._count += 1
        self._clients[client] += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        finally:
            self._count -= 1
            self._clients[client] -= 1
            if not self._clients[client]:
                del self._clients[client]


def cross_site(request: Request) -> bool:
    """Whether a browser sent this POST from another site: its Origin (or, without one, its Referer)
    names a host other than this request's. Sign-in and sign-out have no session token to check
    yet (or any more), so this is what stops another site from signing a visitor in as the
    attacker's party, or out. Clients that send neither header (scripts, curl) are not browsers."""
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if not claimed:
        return False
    return urlsplit(claimed).netloc.lower() != (request.headers.get("host") or "").lower()


def _seal(key: SigningKey, password: str) -> dict[str, Any]:
    """A new key's keystore (argon2id: run it through :class:`Derivations`)."""
    return keystore.encrypt(key, password)


def needs_derivation(content: bytes) -> bool:
    """Whether an uploaded key file may be a keystore (whose password costs an argon2id derivation):
    any JSON object, read as :func:`parse_key_file` reads it (a cheaper test of the bytes could be
    dodged with an escaped key name or leading whitespace, and the derivation would then run on
    the event loop). Only a bare hex seed skips it."""
    return content.decode("utf-8", errors="replace").strip().startswith("{")


def key_from_upload(content: bytes, password: str) -> SigningKey:
    """A signing key from an uploaded keystore (with its password) or a key file. Raises ValueError/KeystoreError.

    A sign-in form is open to anyone: a keystore may ask at most the cost of those anju writes
    (run keystores through :class:`Derivations`, see :func:`needs_derivation`)."""
    return parse_key_file(
        content.decode("utf-8", errors="replace"),
        password,
        max_opslimit=keystore.OPSLIMIT,
        max_memlimit=keystore.MEMLIMIT,
    )


def options_for(r: Reader, s: Session | None) -> dict[str, list[tuple[str, str]]]:
    """Choices for the id fields of a signed-in participant's forms."""
    if s is None:
        return {}
    opts: dict[str, list[tuple[str, str]]] = {"unit": [], "mandate": [], "listing": []}
    if s.role == "landlord":
        for u in r.units_of(s.party):
            opts["unit"].append(
                (u["id"], f"{u['street']} · {u['neighbourhood']} · {u['floor_area_m2']} m² ({u['id']})")
            )
    agency = _agency_of(r, s)
    if agency:
        for m in r.mandates(agency=agency):
            if m["state"] != "active":
                continue
            u = r.unit(m["unit"]) or {}
            label = f"{u.get('street', '')} · {u.get('neighbourhood', '')} ({m['unit']})"
            if m["unit"] not in {v for v, _ in opts["unit"]}:
                opts["unit"].append((m["unit"], label))
            opts["mandate"].append((m["id"], f"{m['id']} · {label} · → {m['to']}"))
    # A lease may name only a live listing of its landlord side (the registry's rule from edition 4):
    # the owner offers its own, an agency (or its agent) its agency's.
    for ls in r.listings(publisher=agency or s.party):
        if ls["state"] == "live":
            opts["listing"].append((ls["id"], f"{vcode.display(ls['code'])} · {ls['street']}"))
    return opts


SALTED = {
    "address_commitment": N_("the address"),
    "account_commitment": N_("the account number"),
    "document_hash": N_("the contract"),
}
"""What each salted commitment a form makes commits to (the flash names it beside its salt)."""

KEPT_WORDS = {"review.write": "text_hash", "report.file": "evidence", "dispute.open": "evidence"}
"""Forms whose typed words the ledger holds only as a SHA-256, and the field they are typed in: the
portal keeps them (:meth:`Offers.keep_review_text`) to show beside the hash: a review on the party's
page; a fake-listing report's and a dispute's evidence to the housing authority, who decides them
(the words were hashed and kept nowhere: the authority read only a hash), kept apart from reviews'
(the hashes are public: a review made with an evidence's hash showed its words on a party page)."""


def _with_words(p: Portal, record: Record) -> Record:
    """A report or dispute with ``words``: the texts of its evidence hashes this portal kept."""
    hashes = record.get("evidence") or []
    words = [p.offers.review_text(h, evidence=True) for h in hashes if isinstance(h, str)]
    return {**record, "words": [w for w in words if w]}


def _agency_of(r: Reader, s: Session) -> str | None:
    if s.role == "agency":
        return s.party
    if s.role == "agent":
        rec = r.party(s.party)
        return None if rec is None else rec.get("agency")
    return None


_HTML_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


class FormSizeLimit:
    """Answer a portal form (``POST /act/*``, ``/signin``, ``/register``) whose declared body is over
    ``max_bytes``, the server's cap on request bodies, with :meth:`Portal.too_large`: a sentence in
    the reader's language on the portal's page instead of the API's JSON ``PAYLOAD_TOO_LARGE``, which
    answers every other request (and bodies sent without a length) as before."""

    def __init__(self, app: ASGIApp, portal: Portal, max_bytes: int) -> None:
        self.app = app
        self.portal = portal
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            length = dict(scope.get("headers", ())).get(b"content-length", b"")
            if length.isdigit() and int(length) > self.max_bytes:
                answer = self.portal.too_large(Request(scope))
                if answer is not None:
                    await answer(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def _body_cap(app: FastAPI) -> tuple[int, int]:
    """Where the API's :class:`BodySizeLimit` sits among ``app``'s middleware (outermost first) and
    its cap (or the end and the API's default, on an app without one)."""
    for i, m in enumerate(app.user_middleware):
        cls: object = m.cls
        cap = m.kwargs.get("max_bytes")
        if cls is BodySizeLimit and isinstance(cap, int):
            return i, cap
    return len(app.user_middleware), Settings().max_body_bytes


def mount_web(
    app: FastAPI,
    node: NodeLike,
    *,
    data_dir: Path | None = None,
    public_url: str | None = None,
    max_sessions: int = MAX_SESSIONS,
) -> Portal:
    """Serve the portal at ``/`` (and its static files at ``/static``) on ``app``, over ``node``.

    ``public_url`` (e.g. ``https://anju.example.gov.cn``) is the site's address as the public knows
    it: listings' verification links and QR codes point there. Without it they are built from the
    request's own address (its Host header), which suits a laptop but not a poster on a wall.
    ``max_sessions`` bounds the signed-in sessions held in memory (:mod:`anju.web.sessions`)."""
    portal = Portal(node, data_dir, public_url, max_sessions)
    portal.bundles = getattr(app.state, "reader", None)  # the API's, when the portal rides on it
    at, cap = _body_cap(app)  # just inside the rate limit, outside the API's own size cap
    app.user_middleware.insert(at, Middleware(FormSizeLimit, portal=portal, max_bytes=cap))
    app.state.anju_web = portal
    app.include_router(build_router(portal))
    app.mount("/static", StaticFiles(directory=STATIC), name="anju-web-static")
    return portal


def build_router(p: Portal) -> APIRouter:
    r = APIRouter(include_in_schema=False)

    # -- public pages ----------------------------------------------------------------------------
    @r.get("/", response_class=HTMLResponse)
    def home(request: Request) -> Response:
        c = p.ctx(request)
        q = request.query_params
        search = Search(
            street=q.get("street", ""),
            rent_min=_fen(q.get("rent_min")),
            rent_max=_fen(q.get("rent_max")),
            rooms=_int(q.get("rooms")),
            area_min=_int(q.get("area_min")),
            area_max=_int(q.get("area_max")),
            available_by=q.get("available_by") or None,
        )
        results = c.reader.search(search)
        name = (
            "_results.html"
            if request.headers.get("hx-request") and request.headers.get("hx-target") == "results"
            else "home.html"
        )
        return p.render(c, name, q=q, results=results)

    @r.get("/listing/{lid}", response_class=HTMLResponse)
    def listing_page(request: Request, lid: str) -> Response:
        c = p.ctx(request)
        listing = c.reader.listing(lid)
        if listing is None:
            return p.render(c, "notfound.html", 404)
        v = c.reader.verification(listing)
        site = p.public_url or str(request.base_url).rstrip("/")
        check_url = site + "/check?code=" + listing["code"]
        title = c._("QR code of this listing's verification link: %(url)s", url=check_url)
        return p.render(c, "listing.html", v=v, qr=qr_svg(check_url, title), check_url=check_url)

    @r.get("/check", response_class=HTMLResponse)
    def check(request: Request) -> Response:
        c = p.ctx(request)
        typed = request.query_params.get("code", "")
        code, listing = c.reader.by_code(typed) if typed else (None, None)
        v = c.reader.verification(listing) if listing else None
        name = "_check_result.html" if request.headers.get("hx-request") else "check.html"
        return p.render(c, name, typed=typed, code=code, v=v)

    @r.get("/party/{pid}", response_class=HTMLResponse)
    def party_page(request: Request, pid: str) -> Response:
        c = p.ctx(request)
        rec = c.reader.party(pid)
        if rec is None:
            return p.render(c, "notfound.html", 404)
        reviews = [{**rv, "text": p.offers.review_text(rv["text_hash"])} for rv in c.reader.reviews_about(pid)]
        return p.render(
            c,
            "party.html",
            party=rec,
            credit=c.reader.credit(pid),
            reviews=reviews,
            role=c.reader.role_of(pid),
        )

    @r.get("/party/{pid}/history")
    async def party_history(request: Request, pid: str) -> Response:
        """Any party's verifiable history (public, as the API serves it), whatever its size."""
        try:
            answer = await p.history_download(pid, f"anju-history-{pid[:8]}") if HEX64.fullmatch(pid) else None
        except Overloaded as exc:  # BUSY: as many long histories as the node builds at once
            c = p.ctx(request)
            text = " ".join(from_error(c._, exc, ()).form)
            return Response(text, 503, {"Retry-After": str(math.ceil(exc.retry_after))}, "text/plain")
        return p.render(p.ctx(request), "notfound.html", 404) if answer is None else answer

    @r.get("/registration", response_class=HTMLResponse)
    def registration(request: Request) -> Response:
        c = p.ctx(request)
        number = request.query_params.get("number", "").strip()
        reg, lease = c.reader.registration(number) if number else (None, None)
        unit = c.reader.unit(lease["unit"]) if lease else None
        return p.render(c, "registration.html", number=number, reg=reg, lease=lease, unit=unit)

    @r.get("/district", response_class=HTMLResponse)
    def district(request: Request) -> Response:
        c = p.ctx(request)
        return p.render(c, "district.html", d=c.reader.district())

    # -- sign-in ---------------------------------------------------------------------------------
    @r.get("/signin", response_class=HTMLResponse)
    def signin_page(request: Request) -> Response:
        c = p.ctx(request)
        nxt = _safe_next(request.query_params.get("next"))
        return p.render(c, "signin.html", demo=p.demo, err=Refusal(), next_url=nxt)

    @r.post("/signin", response_class=HTMLResponse)
    async def signin(request: Request) -> Response:
        c = p.ctx(request)
        if cross_site(request):
            return p.render(c, "forbidden.html", 403)
        form = await request.form()
        nxt = _safe_next(str(form.get("next") or ""))
        upload = form.get("keyfile")
        password = str(form.get("password") or "")
        err = Refusal()
        content = await upload.read() if upload is not None and not isinstance(upload, str) else b""
        if not content:
            err.add(c._, "FORM_REQUIRED", "keyfile", ("keyfile", "password"))
            return p.render(c, "signin.html", 422, demo=p.demo, err=err, next_url=nxt)
        try:
            if needs_derivation(content):
                client = client_group(request.client.host) if request.client else ""
                wait = p.keystore_signins.take(client)
                if wait > 0:  # one address guessing passwords: it waits, the others do not
                    err.add(c._, "SIGNIN_RATE")
                    retry = {"Retry-After": str(max(1, math.ceil(wait)))}
                    return p.render(c, "signin.html", 429, retry, demo=p.demo, err=err, next_url=nxt)
                key = await p.derivations.run(client, key_from_upload, content, password)
            else:
                key = key_from_upload(content, password)  # a bare key: nothing to derive
        except YourTurnsTaken:
            err.add(c._, "SIGNIN_RATE")
            return p.render(c, "signin.html", 429, {"Retry-After": "5"}, demo=p.demo, err=err, next_url=nxt)
        except PortalBusy:
            err.add(c._, "PORTAL_BUSY")
            return p.render(c, "signin.html", 503, {"Retry-After": "30"}, demo=p.demo, err=err, next_url=nxt)
        except keystore.KeystoreError:
            err.add(c._, "KEYSTORE_PASSWORD", "password", ("keyfile", "password"))
            return p.render(c, "signin.html", 422, demo=p.demo, err=err, next_url=nxt)
        except (ValueError, orjson.JSONDecodeError):
            err.add(c._, "KEYFILE_INVALID", "keyfile", ("keyfile", "password"))
            return p.render(c, "signin.html", 422, demo=p.demo, err=err, next_url=nxt)
        try:
            return p.start_session(c, key, next_url=nxt)
        except ValueError:
            err.add(c._, "NOT_A_PARTY", "keyfile", ("keyfile", "password"))
            return p.render(c, "signin.html", 422, demo=p.demo, err=err, next_url=nxt)
        except SessionsFull:
            return p.sessions_full(c)

    @r.get("/register", response_class=HTMLResponse)
    def register_page(request: Request) -> Response:
        c = p.ctx(request)
        nxt = _safe_next(request.query_params.get("next"))
        return p.render(
            c, "register.html", err=Refusal(), values={"role": "tenant"}, roles=REGISTER_ROLES, next_url=nxt
        )

    @r.post("/register", response_class=HTMLResponse)
    async def register(request: Request) -> Response:
        """A new key, made here, registers itself as a party; the visitor is signed in with it and
        downloads it as a keystore encrypted with their password (the server keeps neither)."""
        c = p.ctx(request)
        if cross_site(request):
            return p.render(c, "forbidden.html", 403)
        form = await request.form()
        nxt = _safe_next(str(form.get("next") or ""))
        values = {k: str(form.get(k) or "").strip() for k in ("role", "name", "identity")}
        password, password2 = str(form.get("password") or ""), str(form.get("password2") or "")
        names = ("role", "name", "identity", "password", "password2")
        err = Refusal()
        if values["role"] not in dict(REGISTER_ROLES):
            err.add(c._, "FORM_CHOICE", "role", names)
        if values["role"] in ("agency", "bank") and not values["name"]:
            err.add(c._, "NAME_REQUIRED", "name", names)
        if len(values["name"]) > 100:
            err.add(c._, "TX_TOO_LARGE", "name", names)
        if not values["identity"]:
            err.add(c._, "FORM_REQUIRED", "identity", names)
        for k in ("name", "identity"):  # bytes that were not UTF-8: never registered or committed to as read
            if "\ufffd" in values[k]:
                err.add(c._, "FORM_ENCODING", k, names)
        if len(password) < 10:
            err.add(c._, "PASSWORD_SHORT", "password", names)
        elif password != password2:
            err.add(c._, "PASSWORD_MISMATCH", "password2", names)
        if err:
            return p.render(c, "register.html", 422, err=err, values=values, roles=REGISTER_ROLES, next_url=nxt)
        client = request.client.host if request.client else ""
        if not p.sessions.has_room(client, c.token):  # before the key is registered: it is handed over in the session
            return p.sessions_full(c)
        key = SigningKey.generate()
        group = client_group(client)
        wait = p.keystore_signins.take(group)  # a registration costs the derivation a sign-in does
        try:  # sealed before the party is registered: a key on the ledger whose keystore failed would be lost
            if wait > 0:
                raise YourTurnsTaken
            sealed = await p.derivations.run(group, _seal, key, password)
        except YourTurnsTaken:
            err.add(c._, "REGISTER_RATE")
            return p.render(
                c, "register.html", 429, {"Retry-After": str(max(5, math.ceil(wait)))}, err=err, values=values,
                roles=REGISTER_ROLES, next_url=nxt,
            )  # fmt: skip
        except PortalBusy:
            err.add(c._, "PORTAL_BUSY")
            return p.render(
                c, "register.html", 503, {"Retry-After": "30"}, err=err, values=values, roles=REGISTER_ROLES,
                next_url=nxt,
            )  # fmt: skip
        salt, commitment = commit(values["identity"])
        body: dict[str, Any] = {
            "chain": p.node.chain_id,
            "kind": "party.register",
            "signer": key.public_hex,
            "seq": 1,
            "role": values["role"],
            "commitment": commitment,
        }
        if values["role"] in ("agency", "bank"):
            body["name"] = values["name"]
        try:
            await p.send(tx.sign(body, [key]))
        except AnjuError as exc:
            return p.render(
                c,
                "register.html",
                422,
                err=from_error(c._, exc, names),
                values=values,
                roles=REGISTER_ROLES,
                next_url=nxt,
            )
        flash = [
            c._("Registered. Download your keystore now: it is the only copy of your key."),
            c._("Keep this salt with your records (%(field)s): %(salt)s", field=c._("identity"), salt=salt),
        ]
        try:
            return p.start_session(
                c, key, sealed=orjson.dumps(sealed, option=orjson.OPT_INDENT_2), flash=flash, next_url=nxt
            )
        except SessionsFull:
            return p.sessions_full(c)

    @r.post("/me/history")
    async def my_history(request: Request) -> Response:
        """The signed-in party's history bundle, with its own disclosure of who it is (the text and
        salt behind its identity commitment) when the form gives them: the party downloads it to
        show to a landlord it chooses. Nothing of the disclosure is kept here."""
        c = p.ctx(request)
        s = c.session
        form = await request.form()
        if s is None or cross_site(request) or form.get("form_token") != s.form_token:
            return p.render(c, "forbidden.html", 403)
        identity, salt = str(form.get("identity") or "").strip(), str(form.get("salt") or "").strip().lower()
        disclosure = (identity, salt) if identity or salt else None
        name = f"anju-history-{s.party[:8]}{'-disclosed' if disclosure else ''}"
        try:  # the single bundle, or for a history larger than one carries, its parts
            answer = await p.history_download(s.party, name, disclosure)
        except ValueError:
            s.flash.append(c._("That text and salt do not open your identity commitment: nothing was disclosed."))
            return RedirectResponse("/me", status_code=303)
        except AnjuError as exc:
            s.flash.extend(from_error(c._, exc, ()).form)
            return RedirectResponse("/me", status_code=303)
        return p.render(c, "notfound.html", 404) if answer is None else answer

    @r.get("/me/keystore")
    def my_keystore(request: Request) -> Response:
        c = p.ctx(request)
        s = c.session
        if s is None or s.keystore is None:
            return p.render(c, "notfound.html", 404)
        name = f"anju-{s.party[:12]}.keystore.json"
        headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
        return Response(s.keystore, media_type="application/json", headers=headers)

    @r.post("/signin/demo")
    async def signin_demo(request: Request) -> Response:
        c = p.ctx(request)
        if cross_site(request):
            return p.render(c, "forbidden.html", 403)
        form = await request.form()
        wanted = str(form.get("party") or "")
        nxt = _safe_next(str(form.get("next") or ""))
        for d in p.demo:
            if d.party == wanted:
                try:
                    return p.start_session(c, d.key, demo_label=d.name, next_url=nxt)
                except ValueError:
                    break
                except SessionsFull:
                    return p.sessions_full(c)
        err = Refusal()
        err.add(c._, "NOT_A_PARTY", None, ())
        return p.render(c, "signin.html", 422, demo=p.demo, err=err, next_url=nxt)

    @r.post("/signout")
    async def signout(request: Request) -> Response:
        c = p.ctx(request)
        token = (await request.form()).get("form_token")
        if cross_site(request) or (c.session is not None and token != c.session.form_token):
            return p.render(c, "forbidden.html", 403)
        p.sessions.drop(request.cookies.get(COOKIE))
        resp = RedirectResponse("/", status_code=303)
        resp.delete_cookie(COOKIE)
        return resp

    # -- participants ----------------------------------------------------------------------------
    @r.get("/me", response_class=HTMLResponse)
    def me(request: Request) -> Response:
        c = p.ctx(request)
        s = c.session
        if s is None:
            return RedirectResponse("/signin", status_code=303)
        rd = c.reader
        data: dict[str, Any] = {
            "opts": options_for(rd, s),
            "credit": rd.credit(s.party),
            "last_event": rd.store.last_event_id(),
            "event_labels": {kind: c._(label) for kind, label in EVENTS.items()},
        }
        agency = _agency_of(rd, s)
        if s.role == "authority":
            data.update(
                onboard=rd.parties_to_onboard(),
                titles=rd.titles_to_attest(),
                to_register=rd.leases_to_register(),
                reports=[_with_words(p, rp) for rp in rd.reports(open_only=True)],
                disputes=[_with_words(p, d) for d in rd.disputes(open_only=True)],
            )
        elif s.role == "bank":
            data.update(escrow=rd.escrow_queue())
        else:
            who = agency or s.party
            offers = p.offers.for_party(
                s.party, answered_since=add_days(rd.today, -30), open_since=add_days(rd.today, -OPEN_DAYS)
            )
            data.update(
                units=rd.units_of(s.party) if s.role == "landlord" else [],
                mandates=rd.mandates(owner=s.party)
                if s.role == "landlord"
                else rd.mandates(agency=who)
                if agency
                else [],
                listings=rd.listings(owner=s.party)
                if s.role == "landlord"
                else rd.listings(publisher=who)
                if agency
                else [],
                leases=rd.leases(who),
                offers=offers,
                owner_of={o.unit: (rd.unit(o.unit) or {}).get("owner") for o in offers if o.consenters},
                cuts={  # (shown only to the subtenant asked now)
                    o.id: _cuts_of(c, o, s.party)
                    for o in offers
                    if o.what == "lease.terminate.subleases" and o.status == "consent" and o.consenter == s.party
                },
                to_confirm=rd.payments_to_confirm(who),
                disputes=rd.disputes(party=who),
                agents=rd.agents_of(s.party) if s.role == "agency" else [],
            )
        return p.render(c, "me.html", can_export=p.bundles is not None, **data)

    @r.get("/lease/{lid}", response_class=HTMLResponse)
    def lease_page(request: Request, lid: str) -> Response:
        c = p.ctx(request)
        lease = c.reader.lease(lid)
        s = c.session
        if lease is None:
            return p.render(c, "notfound.html", 404)
        sides = {lease["tenant"], lease["landlord"], lease["owner"], lease.get("agency")}
        who = (_agency_of(c.reader, s) or s.party) if s else None
        if s is None or (who not in sides and s.role != "authority"):
            return p.render(c, "forbidden.html", 403)
        unconfirmed = unconfirmed_months(lease)  # (edition 6: recorded, not yet confirmed by the receiver)
        lease = {
            **lease,
            "phase": c.reader.lease_phase(lease),
            "overdue": [m for m in overdue_months(lease, c.reader.today) if m not in unconfirmed],
            "unconfirmed": unconfirmed,
        }
        mine_tenant = who == lease["tenant"]
        parent = c.reader.lease(lease["parent"]) if lease["parent"] else None
        # a sublease's renewal stays within its parent lease: none once it reaches the parent's last day
        renewable = not lease["renewed_by"] and (parent is None or lease["ends_on"] < parent["ends_on"])
        counterparty = (lease.get("agency") or lease["landlord"]) if mine_tenant else lease["tenant"]
        commitment = lease.get("document_hash")
        return p.render(
            c,
            "lease.html",
            lease=lease,
            # the contract's salt, when this portal made the commitment: to the lease's sides only
            contract_salt=p.offers.contract_salt(commitment) if commitment and who in sides else None,
            unit=c.reader.unit(lease["unit"]),
            payments=c.reader.payments(lid),
            is_tenant=mine_tenant,
            is_landlord_side=who in (lease["landlord"], lease["agency"]),
            renewable=renewable,
            is_collector=who == lease["collector_party"],
            counterparty=counterparty,
            disputes=c.reader.disputes(lease=lid),
        )

    @r.get("/offer/{oid}", response_class=HTMLResponse)
    def offer_page(request: Request, oid: str) -> Response:
        c = p.ctx(request)
        offer = p.offers.get(oid)
        s = c.session
        if offer is None:
            return p.render(c, "notfound.html", 404)
        if s is None or not offer.shown_to(s.party):
            return p.render(c, "forbidden.html", 403)
        b = offer.body
        previous = c.reader.lease(b["previous"]) if b.get("previous") else None  # a renewal names only this
        parent_id = b.get("parent") or (previous or {}).get("parent")
        parent = c.reader.lease(parent_id) if parent_id else None
        tenant = b.get("tenant") or (previous or {}).get("tenant")
        ended = c.reader.lease(b["lease"]) if b["kind"] == "lease.terminate" else None
        return p.render(
            c,
            "offer.html",
            offer=offer,
            unit=c.reader.unit(offer.unit),
            parent_id=parent_id,
            parent=parent,
            tenant=tenant,
            consents=_consents(offer, (c.reader.unit(offer.unit) or {}).get("owner")),
            ended=ended,
            cuts={k: _cuts_of(c, offer, k) for k in offer.consenters} if ended else {},
            contract_salt=p.offers.contract_salt(b["document_hash"]) if b.get("document_hash") else None,
            err=Refusal(),
        )

    # -- actions ---------------------------------------------------------------------------------
    @r.post("/act/{name}", response_class=HTMLResponse)
    async def act(request: Request, name: str) -> Response:
        c = p.ctx(request)
        form = FORMS.get(name)
        if form is None:
            return p.render(c, "notfound.html", 404)
        raw = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        nxt = _safe_next(raw.get("next"))
        s = c.session
        err = Refusal()
        notes: dict[str, str] = {}
        done: str | None = None
        once = raw.get("form_once", "")[:32]  # the rendered form's own id (16 characters): carried out once
        if s is None:
            err.add(c._, "SESSION_EXPIRED")
        elif raw.get("form_token") != s.form_token:
            err.add(c._, "BAD_FORM_TOKEN")
        elif s.role not in form.roles:
            err.add(c._, "WRONG_ROLE")
        elif once and not s.claim(once):
            once = ""  # (not this submission's to settle)
            err.add(c._, "FORM_RESENT")
        else:
            fields, err, notes = parse(form, raw, c._)
            if not err:
                try:
                    done = await _perform(p, c, form, fields, err)
                    if done is not None and "document_hash" in notes:  # the contract's salt, for the offer's parties
                        p.offers.keep_contract_salt(fields["document_hash"], notes["document_hash"])
                    if done is not None and form.name in KEPT_WORDS:  # the words behind the hash
                        words = raw.get(KEPT_WORDS[form.name], "").strip()
                        p.offers.keep_review_text(words, evidence=form.name != "review.write")
                except AnjuError as exc:
                    ends = raw.get("lease") if form.name == "lease.terminate" else None  # a notice: which lease
                    err = from_error(c._, exc, form.field_names, ends)
                except Exception:  # a bug of ours: log it, and still answer with a sentence
                    log.exception("portal action %s failed", name)
                    err.add(c._, "UNEXPECTED")
            if once:
                s.settle(once, done is not None and not err)
        if err or s is None or done is None:
            if not err:
                err.add(c._, "BAD_REQUEST")
            if request.headers.get("hx-request"):
                return p.render(c, "_form.html", form=form, values=raw, err=err, opts=options_for(c.reader, s), nxt=nxt)
            return p.render(
                c, "action.html", 422, form=form, values=raw, err=err, opts=options_for(c.reader, s), nxt=nxt
            )
        s.flash.append(done)
        for field_name, salt in notes.items():
            field = c._(SALTED.get(field_name, field_name))
            s.flash.append(c._("Keep this salt with your records (%(field)s): %(salt)s", field=field, salt=salt))
        if request.headers.get("hx-request"):
            return Response(status_code=204, headers={"HX-Redirect": quote(nxt, safe="/?&=#%+:@,;~!$'()*-._")})
        return RedirectResponse(nxt, status_code=303)

    return r


async def _perform(p: Portal, c: Ctx, form: Form, fields: dict[str, Any], err: Refusal) -> str | None:
    """Carry out a parsed action; a sentence for the flash on success, or None with ``err`` filled."""
    s = c.session
    assert s is not None
    _ = c._
    if form.name == "lease.offer":
        return _offer_lease(p, c, fields, err)
    if form.name == "lease.offer_sublease":
        return _offer_sublease(p, c, fields, err)
    if form.name in ("lease.propose_renewal", "lease.propose_end"):
        return _propose(p, c, form, fields, err)
    if form.name == "offer.withdraw":
        offer = _offer_for(p, c, fields, ("pending", "consent", "stale"), "offered_by", err)
        if offer is None:
            return None
        if not p.offers.transition(offer.id, ("pending", "consent", "stale"), "withdrawn", on=c.reader.today):
            err.add(_, "OFFER_GONE")  # signed (or answered) meanwhile
            return None
        return _("You withdrew the offer.")
    if form.name == "offer.reissue":
        old = _offer_for(p, c, fields, ("stale",), "offered_by", err)
        if old is None:
            return None
        if not _still_entitled(c, old.body):  # e.g. an agent dismissed since, a mandate ended since
            err.add(_, "NOT_YOURS")
            return None
        refused = _offered_listing_refusal(c.reader, old.body)  # e.g. the listing expired or was let since
        if refused is not None:
            err.add(_, refused)
            return None
        terms = {k: v for k, v in old.body.items() if k != "seq"}  # e.g. its first or new last day gone by since
        if not _tenant_has_room(p, c, old.tenant, err) or not _offered_terms_ok(c, terms, err):
            return None  # (before the old one is marked replaced)
        if not p.offers.transition(old.id, ("stale",), "replaced"):
            err.add(_, "OFFER_GONE")
            return None
        # a sublease asks its consenters again, from the first (as the ledger names them today); a mutual
        # end asks again the subtenants whose notice it cuts short today
        return _put_offer(p, c, err, old.unit, old.body, _consenters(c, old.body, [s.party]))
    if form.name in ("offer.consent", "offer.refuse", "offer.agree_end", "offer.refuse_end"):
        # an owner's (or a sub-landlord's landlord's) consent to a sublease; a subtenant's agreement to
        # a mutual end that cuts their sublease sooner than its notice: the same signature, other words
        offer = _offer_for(p, c, fields, ("consent",), "consenter", err)
        if offer is None:
            return None
        ending = offer.body["kind"] == "lease.terminate"
        if ending != form.name.endswith("_end"):
            err.add(_, "BAD_REQUEST")
            return None
        if form.name in ("offer.refuse", "offer.refuse_end"):
            if not p.offers.transition(offer.id, ("consent",), "refused", on=c.reader.today, asking=s.party):
                err.add(_, "OFFER_GONE")
                return None
            if ending:
                return _("You refused to leave sooner than your notice: the end is off, and your sublease keeps it.")
            return _("You refused consent to the sublease.")
        return _consent(p, c, offer, err)
    if form.name in ("offer.accept", "offer.decline"):
        # a sublease may be declined while it waits for the owner, but signed only after
        offer = _offer_for(p, c, fields, ("pending", "consent"), "tenant", err)
        if offer is None:
            return None
        if form.name == "offer.decline":
            if not p.offers.transition(offer.id, ("pending", "consent"), "declined", on=c.reader.today):
                err.add(_, "OFFER_GONE")
                return None
            return _("You declined the offer.")
        ending = offer.body["kind"] == "lease.terminate"
        if offer.status == "consent":
            err.add(_, "OFFER_WAITING_AGREEMENT" if ending else "OFFER_WAITING")
            return None
        if offer.body["seq"] != c.reader.last_seq(s.party) + 1:
            p.offers.transition(offer.id, ("pending",), "stale", reason="seq")  # the offering side signs it again
            err.add(_, "OFFER_STALE")
            return None
        if ending and _consenters(c, offer.body, [g["key"] for g in offer.envelope["sigs"]]):
            # days went by (or a sublease began) since it was offered: it now cuts a sublease sooner than
            # its notice whose subtenant was not asked; signed again, it asks them
            p.offers.transition(offer.id, ("pending",), "stale", reason="subleases")
            err.add(_, "OFFER_STALE_SUBLEASES")
            return None
        receipt = await p.send(tx.cosign(offer.envelope, s.key))
        # committed: the ledger's word wins over a decline that raced it from another tab
        p.offers.transition(offer.id, ("pending", "declined", "stale", "replaced"), "signed", txid=receipt.txid)
        if offer.body["kind"] == "lease.terminate":
            return _("Signed by both sides: the lease ends on %(on)s.", on=offer.body["on"])
        if len(offer.consenters) > 1:  # four signatures: a sublease of a sublease or its renewal
            return _(
                "Sublease signed by you, the sub-landlord, its landlord and the owner (consents). Lease %(lease)s "
                "is on the ledger (block %(height)s).",
                lease=receipt.txid[:16],
                height=receipt.height,
            )
        if offer.consenters:  # three signatures: a sublease or its renewal
            return _(
                "Sublease signed by you, the sub-landlord and the owner (consent). Lease %(lease)s is on the "
                "ledger (block %(height)s).",
                lease=receipt.txid[:16],
                height=receipt.height,
            )
        return _(
            "Lease signed by both sides. Lease %(lease)s is on the ledger (block %(height)s).",
            lease=receipt.txid[:16],
            height=receipt.height,
        )
    assert form.kind is not None
    receipt = await p.sign_and_send(c, body_fields(form, fields, s.role, s.key.seed), form.kind)
    return _(
        "Done: %(what)s. Transaction %(txid)s, block %(height)s.",
        what=_(form.title),
        txid=receipt.txid[:16],
        height=receipt.height,
    )


def _still_entitled(c: Ctx, body: dict[str, Any]) -> bool:
    """Whether the session may still sign ``body`` (an offer it made) as the landlord side: the
    checks made when it was offered, again (an agent may have been dismissed, a mandate may have
    ended or been revoked since)."""
    s = c.session
    assert s is not None
    r = c.reader
    actor = _agency_of(r, s) or s.party
    if body["kind"] == "lease.sign" and body.get("parent"):  # a sublease: its sub-landlord, the parent's tenant
        parent = r.lease(body["parent"])
        return parent is not None and parent["tenant"] == s.party
    if body["kind"] == "lease.sign":
        if actor == body["landlord"]:
            return True
        mandate = r.mandate(body.get("mandate"))
        return mandate is not None and mandate["agency"] == actor and mandate_live(mandate, r.today)
    lease = r.lease(str(body.get("previous") or body.get("lease")))
    if lease is None:
        return False
    if actor == lease["landlord"]:
        return True
    return actor == lease["agency"] and _agency_signs_for_landlord(r, lease["mandate"])


def _agency_signs_for_landlord(r: Reader, mandate_id: str | None) -> bool:
    """Whether a lease's agency may act as its landlord side today: the lease's mandate lets it sign
    and is in force (the ledger's rule from edition 3, ``rules.lease._may_sign``)."""
    mandate = r.mandate(mandate_id)
    return mandate is not None and bool(mandate["may_sign"]) and mandate_live(mandate, r.today)


def _tenant_has_room(p: Portal, c: Ctx, tenant: str, err: Refusal) -> bool:
    """Whether ``tenant`` may be sent one more offer by the session's party: at most OPEN_PER_TENANT
    waiting in all, and OPEN_PER_OFFERER from this party waiting or declined lately. Nobody fills
    another party's list of offers, alone or by offering again after each decline."""
    since = add_days(c.reader.today, -OPEN_DAYS)
    if p.offers.open_count(tenant, since) >= OPEN_PER_TENANT:
        err.add(c._, "TENANT_OFFERS_FULL")
        return False
    if c.session is not None and p.offers.count_from(tenant, c.session.party, since) >= OPEN_PER_OFFERER:
        err.add(c._, "OFFERER_OFFERS_FULL")
        return False
    return True


def _offered_terms_ok(c: Ctx, body: dict[str, Any], err: Refusal, names: tuple[str, ...] = ()) -> bool:
    """Whether the ledger could ever take the offer ``body`` as it stands today (courtesy checks, made
    before it is signed and kept: the ledger decides only at the tenant's countersignature, when the
    offering side can no longer change it): its fields as its kind takes them, and its days as the
    registry's lease rules read them (``registry.status.lease_terms_refusal`` and ``end_days``, the
    rules' own: a start at most 30 days back from edition 3, at most twenty years, a renewal ending
    after the lease it renews, a mutual end's new last day from today to the lease's last day).
    Refusals go next to the field of ``names`` they concern."""
    _ = c._
    try:
        BodyCheck(KINDS[str(body["kind"])].fields)(body)
    except AnjuError as exc:
        refused = from_error(_, exc, names)
        err.fields.update(refused.fields)
        err.form.extend(refused.form)
        return False
    r = c.reader
    if body["kind"] == "lease.terminate":
        lease = r.lease(str(body["lease"]))
        if lease is None:
            err.add(_, "UNKNOWN_REFERENCE")
            return False
        first, last = end_days(lease, r.today, r.edition)
        if not first <= body["on"] <= last:
            err.add(_, "FORM_END_DAY", "on", names)
            return False
        return True
    previous = r.lease(str(body["previous"])) if body["kind"] == "lease.renew" else None
    if body["kind"] == "lease.renew" and previous is None:
        err.add(_, "UNKNOWN_REFERENCE")
        return False
    start = add_days(previous["ends_on"], 1) if previous is not None else str(body["start"])
    why = lease_terms_refusal(start, str(body["end"]), r.today, r.edition)
    if why == "reversed":
        err.add(_, "FORM_RENEWAL_END" if previous is not None else "FORM_DATES_REVERSED", "end", names)
    elif why == "too_long":
        err.add(_, "FORM_LEASE_TOO_LONG", "end", names)
    elif why == "too_early":
        err.add(_, "FORM_START_TOO_EARLY", "end" if previous is not None else "start", names)
    return not err


def _put_offer(
    p: Portal,
    c: Ctx,
    err: Refusal,
    unit: str,
    body: dict[str, Any],
    consenters: Sequence[str] = (),
    names: tuple[str, ...] = (),
) -> str | None:
    """Sign ``body`` (whose signer is the tenant) as the session's landlord side, with the tenant's
    next ``seq``, and keep it for the tenant to countersign, after the ``consenters``' signatures
    when any are named (:func:`_consenters`, asked in order); the sentence for the flash."""
    s = c.session
    assert s is not None
    tenant = body["signer"]
    if not _tenant_has_room(p, c, tenant, err):
        return None
    if not _offered_terms_ok(c, {k: v for k, v in body.items() if k != "seq"}, err, names):
        return None
    envelope = tx.sign({**body, "seq": c.reader.last_seq(tenant) + 1}, [s.key])
    oid = p.offers.add(c.reader.today, tenant, s.party, unit, envelope, consenters)
    if consenters and body["kind"] == "lease.terminate":
        return c._(
            "Offer %(offer)s signed. It ends a sublease sooner than its notice: each subtenant so cut short is "
            "asked to agree first, from the top down, then the tenant to countersign.",
            offer=oid,
        )
    if len(consenters) > 1:
        return c._("Offer %(offer)s signed and sent for consent: to your landlord first, then to the owner.", offer=oid)
    if consenters and consenters[0] != (c.reader.unit(unit) or {}).get("owner"):
        return c._("Offer %(offer)s signed and sent to your landlord for consent.", offer=oid)
    if consenters:
        return c._("Offer %(offer)s signed and sent to the owner for consent.", offer=oid)
    return c._("Offer %(offer)s signed and sent to the tenant for countersigning.", offer=oid)


def _consenters(c: Ctx, body: dict[str, Any], signing: Sequence[str] = ()) -> tuple[str, ...]:
    """Whose consent the sublease or sublease renewal ``body`` needs besides its two sides, in the
    order the portal asks: for a sublease of a sublease (rules edition 6) the landlord of the lease
    it sublets first (the sub-landlord is its own tenant, whom it knows), then the owner, who so
    hears only of what the landlords below have agreed; the ledger takes the signatures in any
    order. Nobody is asked twice, nor for a signature one of the two sides gives anyway (an owner
    who is the sub-landlord or the subtenant). For a mutual end (rules edition 7), the subtenants
    whose subleases it would cut sooner than their notice, top-down (:func:`_cut_short`), but for
    those ``signing`` it anyway (its landlord side). None for anything else (a lease of the owner's)."""
    r = c.reader
    if body["kind"] == "lease.terminate":
        lease = r.lease(str(body["lease"])) if body.get("mode") == "mutual" else None
        if lease is None:
            return ()
        cut = sorted(_cut_short(c, lease, str(body["on"])), key=lambda k: int(k["depth"]))  # top-down
        sides = (body["signer"], *signing)
        return tuple(k for k in dict.fromkeys(str(x["tenant"]) for x in cut) if k not in sides)
    if body["kind"] == "lease.sign":
        parent_id = body.get("parent")
    elif body["kind"] == "lease.renew":  # a sublease's renewal is a sublease of the same parent again
        previous = r.lease(str(body["previous"]))
        parent_id = previous["parent"] if previous else None
    else:
        return ()
    parent = r.lease(str(parent_id)) if parent_id else None
    if parent is None:
        return ()
    wanted = [parent["owner"]]
    if parent["parent"] is not None and r.edition >= 6:  # (art. 716: its own landlord's consent)
        wanted.insert(0, parent["landlord"])
    sides = (parent["tenant"], body["signer"])  # the sub-landlord and the subtenant sign anyway
    return tuple(k for k in dict.fromkeys(wanted) if k not in sides)


def _consent(p: Portal, c: Ctx, offer: Offer, err: Refusal) -> str | None:
    """The consenter asked adds its signature to the envelope; then the next consenter is asked, or,
    once every consent is in, the tenant may sign. An offer the tenant's seq has passed is dead
    already: it goes back to its offering side, stale, to be signed again (and consented again)."""
    s = c.session
    assert s is not None
    ending = offer.body["kind"] == "lease.terminate"
    if offer.body["seq"] != c.reader.last_seq(offer.tenant) + 1:  # its tenant moved on: dead already
        p.offers.transition(offer.id, ("consent",), "stale", reason="seq")  # the offering side signs it again
        err.add(c._, "OFFER_STALE_AGREEMENT" if ending else "OFFER_STALE_CONSENT")
        return None
    later = offer.consenters[offer.consenters.index(s.party) + 1 :]
    nxt = next((k for k in later if not offer.signed_by(k)), None)
    envelope = tx.cosign(offer.envelope, s.key)
    after = "pending" if nxt is None else "consent"
    if not p.offers.transition(offer.id, ("consent",), after, envelope=envelope, asking=s.party, ask=nxt):
        err.add(c._, "OFFER_GONE")  # answered meanwhile (from another tab)
        return None
    if ending and nxt is not None:
        return c._("You agreed to leave sooner than your notice; the end now waits for the next subtenant's agreement.")
    if ending:
        return c._("You agreed to leave sooner than your notice; the end now waits for the tenant's signature.")
    if nxt is not None:  # (only the owner comes after another consenter: :func:`_consenters`)
        return c._("You consented to the sublease; it now waits for the owner's consent.")
    return c._("You consented to the sublease; it now waits for the subtenant's signature.")


def _consents(offer: Offer, owner: str | None) -> list[dict[str, Any]]:
    """Each consent an offer needs, for its page: who (``party``), whose it is (``role``: the
    ``owner``'s, the sublet lease's ``landlord``'s, or a ``subtenant``'s agreement to leave sooner
    than their notice), and its ``state``: given, asked (waiting for it), refused, next (asked once
    the one before is in), or none (the offer ended before it was asked)."""
    out = []
    for k in offer.consenters:
        if offer.signed_by(k):
            state = "given"
        elif k == offer.consenter and offer.status in ("consent", "refused"):
            state = "asked" if offer.status == "consent" else "refused"
        elif offer.status == "consent" and k not in offer.asked:
            state = "next"
        else:
            state = "none"
        role = offer.role_of(k, owner)
        out.append({"party": k, "owner": role == "owner", "role": role, "state": state})
    return out


def _offer_for(
    p: Portal, c: Ctx, fields: dict[str, Any], statuses: tuple[str, ...], actor: str, err: Refusal
) -> Offer | None:
    """The form's offer if it is in one of ``statuses`` and the session is its ``actor``: the
    ``tenant`` signs or declines, the ``offered_by`` side signs a stale one again, the
    ``consenter`` (the owner, for a sublease) consents or refuses."""
    s = c.session
    assert s is not None
    offer = p.offers.get(str(fields.get("offer", "")))
    if offer is None or offer.status not in statuses:
        err.add(c._, "OFFER_GONE")
        return None
    if offer.status in ("pending", "consent", "stale") and offer.created < add_days(c.reader.today, -OPEN_DAYS):
        err.add(c._, "OFFER_GONE")  # lapsed: its terms were for then
        return None
    if getattr(offer, actor) != s.party:
        # a consenter answering again (another tab, the browser's history) is told it answered
        answered = actor == "consenter" and s.party in offer.consenters and offer.signed_by(s.party)
        err.add(c._, "ALREADY_DONE" if answered else "NOT_YOURS")
        return None
    return offer


def _propose(p: Portal, c: Ctx, form: Form, f: dict[str, Any], err: Refusal) -> str | None:
    """The landlord side signs a renewal or a mutual end of a lease; the tenant countersigns it as
    an offer (the tenant is the envelope's signer, with their next seq)."""
    s = c.session
    assert s is not None
    lease = c.reader.lease(f["lease"])
    if lease is None:
        err.add(c._, "UNKNOWN_REFERENCE")
        return None
    actor = _agency_of(c.reader, s) or s.party
    if actor not in (lease["landlord"], lease["agency"]):
        err.add(c._, "NOT_YOURS")  # only the lease's landlord side may put an offer to its tenant
        return None
    if actor != lease["landlord"] and not _agency_signs_for_landlord(c.reader, lease["mandate"]):
        err.add(c._, "MANDATE_NO_SIGNING")  # the agency speaks for the landlord only while its mandate lets it sign
        return None
    if form.name == "lease.propose_end":
        fields: dict[str, Any] = {
            "lease": lease["id"],
            "mode": "mutual",
            "on": f["on"],
            "reason_hash": f["reason_hash"],
        }
        kind = "lease.terminate"
    else:
        fields = {"previous": lease["id"], **{k: v for k, v in f.items() if k != "lease"}}
        kind = "lease.renew"
        if lease["parent"] and not _sublease_renewable(c, lease, f, err):
            return None
    # renewing a sublease makes a sublease again: its consents come first; ending a lease sooner than
    # its subleases' notice asks their subtenants to agree first (ending one otherwise needs only its sides)
    body = {"chain": p.node.chain_id, "kind": kind, "signer": lease["tenant"], **fields}
    return _put_offer(p, c, err, lease["unit"], body, _consenters(c, body, [s.party]), form.field_names)


def _cut_short(c: Ctx, lease: dict[str, Any], on: str) -> list[dict[str, Any]]:
    """Each live sublease in ``lease`` (at any depth, ``depth`` 1 for its own) that ending it by
    agreement on ``on`` would cut sooner than that sublease's own notice, as the ledger judges it
    (:func:`anju.registry.status.subleases_cut_short`, the rule of edition 7 itself: refused unless
    its subtenant signs too): its id (``lease``), ``tenant``, ``start``, ``ends_on``, ``notice_days``,
    the last day left to it (``to``; before its start when it would be called off) and ``depth``.
    None before edition 7."""
    r = c.reader
    if r.edition < 7:
        return []
    keep = ("tenant", "start", "ends_on", "notice_days")
    return [
        {"lease": sub["id"], **{k: sub[k] for k in keep}, "to": to, "depth": depth}
        for sub, to, depth in subleases_cut_short(r.lease, lease, on, r.today)
    ]


def _cuts_of(c: Ctx, offer: Offer, party: str) -> list[dict[str, Any]]:
    """The subleases of ``party``'s that the mutual end ``offer`` would cut sooner than their notice,
    as the ledger stands now (what a subtenant asked agrees to; none once the end is recorded)."""
    lease = c.reader.lease(str(offer.body["lease"]))
    if lease is None or lease["status"] != "active":
        return []
    return [k for k in _cut_short(c, lease, str(offer.body["on"])) if k["tenant"] == party]


def _sublease_renewable(c: Ctx, lease: dict[str, Any], f: dict[str, Any], err: Refusal) -> bool:
    """Courtesy checks of a sublease's renewal before anyone signs it (the ledger decides): it stays
    a sublease of the same parent lease, so it must fit in what is left of it, beside its siblings,
    with its sub-landlord collecting the rent."""
    names = FORMS["lease.propose_renewal"].field_names
    parent = c.reader.lease(lease["parent"])
    start = add_days(lease["ends_on"], 1)
    if parent is None or parent["status"] != "active" or c.reader.lease_phase(parent) == "ended":
        err.add(c._, "LEASE_NOT_LIVE")
    elif start > parent["ends_on"] or f["end"] > parent["ends_on"]:
        err.add(c._, "SUBLEASE_OUTSIDE_PARENT", "end", names)
    elif _clash(c, parent["subleases"], parent["id"], start, f["end"]):
        err.add(c._, "LEASE_OVERLAP", "end", names)
    elif f["collector"] != "landlord":
        err.add(c._, "INVALID_FIELD", "collector", names)
    return not err


def _offer_sublease(p: Portal, c: Ctx, f: dict[str, Any], err: Refusal) -> str | None:
    """The tenant of a running lease signs a sublease of the same home (转租) as its landlord; the
    owner consents (for a sublease of a sublease, its own landlord first: :func:`_consenters`) and
    the subtenant countersigns, all through the offer (three signatures, or four)."""
    s = c.session
    assert s is not None
    _ = c._
    names = FORMS["lease.offer_sublease"].field_names
    parent = c.reader.lease(f["lease"])
    if parent is None:
        err.add(_, "UNKNOWN_REFERENCE")
        return None
    if parent["tenant"] != s.party:
        err.add(_, "NOT_YOURS")  # only the parent lease's tenant may sublet
        return None
    if parent["status"] != "active" or c.reader.lease_phase(parent) == "ended":
        err.add(_, "LEASE_NOT_LIVE")
        return None
    if f["tenant"] in (s.party, parent["owner"], parent["landlord"]):  # nor to the owner or its own landlord
        err.add(_, "INVALID_FIELD", "tenant", names)
        return None
    if not _signable_tenant(c, f["tenant"]):
        err.add(_, "NOT_A_TENANT", "tenant", names)
        return None
    # Courtesy checks so the sub-landlord hears at once; the ledger decides.
    if f["start"] < parent["start"] or f["end"] > parent["ends_on"]:
        err.add(_, "SUBLEASE_OUTSIDE_PARENT", "start" if f["start"] < parent["start"] else "end", names)
        return None
    if _clash(c, parent["subleases"], parent["id"], f["start"], f["end"]):
        err.add(_, "LEASE_OVERLAP", "start", names)
        return None
    terms = ("start", "end", "rent", "deposit", "payment_day", "notice_days", "document_hash")
    body = _lease_body(p, parent["unit"], s.party, f, terms, parent=parent["id"], collector="landlord")
    return _put_offer(p, c, err, parent["unit"], body, _consenters(c, body), names)


def _signable_tenant(c: Ctx, party: str) -> bool:
    """Whether ``party`` could countersign a lease as its tenant: a registered, active tenant whose
    identity the authority attested (the registry's rule; a courtesy before anyone signs)."""
    rec = c.reader.party(party)
    return rec is not None and rec["role"] == "tenant" and rec["status"] == "active" and rec["identity_attested"]


def _clash(c: Ctx, lease_ids: list[str], parent: str | None, start: str, end: str) -> bool:
    """Whether a lease of ``lease_ids`` under the same ``parent`` (None: the head leases) shares a
    day with ``start``..``end``: the registry's overlap rule, as a courtesy before signing."""
    for lid in lease_ids:
        other = c.reader.lease(lid)
        if (
            other
            and other["parent"] == parent
            and other["start"] <= other["ends_on"]
            and overlaps(start, end, other["start"], other["ends_on"])
        ):
            return True
    return False


def _offer_lease(p: Portal, c: Ctx, f: dict[str, Any], err: Refusal) -> str | None:
    """Sign a lease as the landlord side and keep it for the tenant to countersign (off-ledger)."""
    s = c.session
    assert s is not None
    _ = c._
    names = FORMS["lease.offer"].field_names
    unit = c.reader.unit(f["unit"])
    if unit is None:
        err.add(_, "UNKNOWN_REFERENCE", "unit", names)
        return None
    if f["tenant"] == s.party:
        err.add(_, "INVALID_FIELD", "tenant", names)
        return None
    if not _signable_tenant(c, f["tenant"]):
        err.add(_, "NOT_A_TENANT", "tenant", names)
        return None
    # Courtesy checks so the landlord side hears at once; the ledger decides. Only the owner, or
    # an agency through its own mandate for this unit, offers a lease of it.
    agency = _agency_of(c.reader, s)
    mandate = c.reader.mandate(f.get("mandate"))
    if agency is None and unit["owner"] != s.party:
        err.add(_, "NOT_OWNER", "unit", names)
        return None
    if agency is not None and (mandate is None or mandate["agency"] != agency or mandate["unit"] != unit["id"]):
        err.add(_, "MANDATE_REQUIRED", "mandate", names)
        return None
    if agency is None and f.get("mandate"):
        # Rules edition 5: a lease through a mandate needs its agency's signature, and an offer
        # carries two (the offering side's and the tenant's). The agency offers it, or the owner
        # lets without one. (Applied to every chain, as a policy, like the listing check below.)
        err.add(_, "MANDATE_OFFERED_BY_AGENCY", "mandate", names)
        return None
    if _clash(c, unit["leases"], None, f["start"], f["end"]):
        err.add(_, "LEASE_OVERLAP", "start", names)
        return None
    refused = _listing_refusal(c.reader, f.get("listing"), unit, mandate["agency"] if mandate else None)
    if refused is not None:
        err.add(_, refused, "listing", names)
        return None
    terms = ("mandate", "listing", "start", "end", "rent", "deposit", "payment_day", "notice_days", "collector")
    body = _lease_body(p, unit["id"], unit["owner"], f, (*terms, "document_hash"))
    return _put_offer(p, c, err, unit["id"], body, names=names)


def _listing_refusal(r: Reader, listing_id: str | None, unit: dict[str, Any], agency: str | None) -> str | None:
    """Why a lease of ``unit`` made through ``agency`` (None: the owner's own) may not name the
    listing ``listing_id``, as a code, or None when it may (or names none): the registry's rule from
    edition 4 (``rules.lease._check_listing``), judged today, as a courtesy before anyone signs. The
    listing is of the unit, live, and published by the owner or by that agency."""
    if listing_id is None:
        return None
    listing = r.listing(listing_id)
    if listing is None:
        return "UNKNOWN_REFERENCE"
    if listing["unit"] != unit["id"]:
        return "INVALID_FIELD"
    if r.listing_state(listing)[0] != "live":
        return "LISTING_NOT_LIVE"
    return None if listing["publisher"] in (unit["owner"], agency) else "INVALID_FIELD"


def _offered_listing_refusal(r: Reader, body: dict[str, Any]) -> str | None:
    """:func:`_listing_refusal` for the listing an offer's ``lease.sign`` body names, judged again today."""
    if body["kind"] != "lease.sign" or body.get("listing") is None:
        return None
    unit = r.unit(str(body["unit"]))
    if unit is None:
        return "UNKNOWN_REFERENCE"
    mandate = r.mandate(body.get("mandate"))
    return _listing_refusal(r, str(body["listing"]), unit, mandate["agency"] if mandate else None)


def _lease_body(
    p: Portal, unit: str, landlord: str, f: dict[str, Any], terms: tuple[str, ...], **fixed: Any
) -> dict[str, Any]:
    """A ``lease.sign`` body whose signer is the form's tenant: the ``terms`` the form filled in, and
    the ``fixed`` fields the portal sets (a sublease's parent and collector)."""
    body: dict[str, Any] = {
        "chain": p.node.chain_id,
        "kind": "lease.sign",
        "signer": f["tenant"],
        "unit": unit,
        "landlord": landlord,
        "tenant": f["tenant"],
        **fixed,
    }
    body.update((k, f[k]) for k in terms if f.get(k) is not None)
    return body
