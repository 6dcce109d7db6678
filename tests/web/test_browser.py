"""Whole journeys in headless Chromium against a real server process over a small demo ledger."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from anju.registry.dates import add_days

from .conftest import shot
from .ledger import key

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("web-browser")]


def sign_in_demo(page: Any, base: str, name: str) -> None:
    page.goto(base + "/signin")
    page.locator("form[action='/signin/demo']", has=page.locator(f"input[value='{key(name).public_hex}']")).locator(
        "button"
    ).click()
    page.wait_for_url(base + "/me")


def sign_out(page: Any) -> None:
    with page.expect_navigation():
        page.locator("form[action='/signout'] button").click()


def flash(page: Any) -> str:
    return str(page.locator(".flash").first.inner_text())


def submit(page: Any, button: Any) -> str:
    """Click a form's submit button, wait for the page htmx loads after success, return its flash."""
    with page.expect_navigation():
        button.click()
    return flash(page)


def listing_code(server: dict[str, Any]) -> str:
    return str(server["code"])


def test_tenant_verifies_a_listing_from_its_code(server: dict[str, Any], page: Any) -> None:
    base, code = server["base"], listing_code(server)
    page.goto(base + "/?lang=en")
    shot(page, "home-en")
    page.goto(base + "/check")
    page.fill("#code", code[:5].lower() + "-" + code[5:].lower())
    page.get_by_role("button", name="Check").click()
    panel = page.locator("#verification")
    panel.wait_for()
    assert "Genuine and current" in panel.inner_text()
    assert "Title attested by the housing authority on" in panel.inner_text()
    shot(page, "check-code-en")
    page.goto(base + "/check?code=ZZZZZZZZZZ")
    assert "Do not pay anything" in page.inner_text("#check-result")
    page.goto(f"{base}/listing/{server['listing']}")
    assert page.locator(".qr svg").count() == 1
    shot(page, "listing-en")


def test_proof_bundle_from_the_page_verifies_with_the_sdk(server: dict[str, Any], page: Any) -> None:
    client = pytest.importorskip("anju.client")
    base = server["base"]
    page.goto(f"{base}/listing/{server['listing']}?lang=en")
    with page.expect_download() as info:
        page.click("#bundle")
    path = info.value.path()
    bundle = json.loads(Path(path).read_bytes())
    vkey = httpx.get(base + "/api/v1/node").json()["verifier_key"]
    verified = client.verify_bundle(bundle, vkey)
    assert getattr(verified, "code", listing_code(server)) == listing_code(server)


def test_mandate_publish_sign_register(server: dict[str, Any], page: Any) -> None:
    base, today = server["base"], server["today"]
    agency = key("agency_a").public_hex
    # landlord grants agency A a mandate on unit 1
    page.goto(base + "/?lang=en")
    sign_in_demo(page, base, "landlord")
    form = page.locator("#f-mandate-grant")
    form.locator("select[name=unit]").select_option(server["unit1"])
    form.locator("input[name=agency]").fill(agency)
    form.locator("input[name=from]").fill(today)
    form.locator("input[name=to]").fill(add_days(today, 365))
    form.locator("input[name=may_sign]").check()
    form.locator("input[name=min_rent]").fill("6000")
    assert "Grant a mandate" in submit(page, form.locator("button[type=submit]"))
    shot(page, "landlord-en")
    sign_out(page)
    # agency A publishes a listing under it, then offers a lease to the tenant
    sign_in_demo(page, base, "agency_a")
    form = page.locator("#f-listing-publish")
    form.locator("select[name=unit]").select_option(server["unit1"])
    form.locator("select[name=mandate]").select_option(index=1)
    form.locator("input[name=rent]").fill("8800")
    form.locator("input[name=deposit]").fill("8800")
    form.locator("input[name=available_from]").fill(today)
    form.locator("textarea[name=description]").fill("近地铁一号线，两居室")
    assert "Publish a listing" in submit(page, form.locator("button[type=submit]"))
    form = _fill_lease_offer(page, server["unit1"], add_days(today, 1), add_days(today, 365), "8800", "租赁合同 全文")
    assert "sent to the tenant" in submit(page, form.locator("button[type=submit]"))
    shot(page, "agency-en")
    sign_out(page)
    # the tenant reviews and countersigns
    sign_in_demo(page, base, "tenant")
    page.locator("a[href^='/offer/']").first.click()
    shot(page, "tenant-offer-en")
    assert "Lease signed by both sides" in submit(page, page.get_by_role("button", name="Countersign lease"))
    sign_out(page)
    # the authority registers it
    sign_in_demo(page, base, "authority")
    queue = page.locator(f"li[id^='reg-']:not(#reg-{server['lease3']})")
    assert queue.count() == 1
    assert "Register lease" in submit(page, queue.first.get_by_role("button"))
    shot(page, "authority-en")
    page.goto(base + "/district")
    shot(page, "district-en")
    sign_out(page)
    # the tenant's lease now carries a registration number anyone can check
    sign_in_demo(page, base, "tenant")
    number = page.locator(".badge", has_text="XH").first.inner_text().split()[-1]
    page.goto(f"{base}/registration?number={number}")
    assert "Registered lease" in page.inner_text("#registration-result")
    shot(page, "registration-en")
    page.goto(f"{base}/party/{key('agency_a').public_hex}")
    assert "Leases registered" in page.content()
    shot(page, "credit-en")


def test_a_sublease_with_the_owners_consent_then_one_of_it_with_two_consents(server: dict[str, Any], page: Any) -> None:
    """转租 in the browser: the tenant offers it from the lease page, the owner consents from My
    page, the subtenant countersigns; the ledger holds it under its parent. The subtenant then lets
    the home on: its own landlord consents first, then the owner, and the sub-subtenant signs."""
    base, today, lease3 = server["base"], server["today"], server["lease3"]
    sign_in_demo(page, base, "tenant2")
    page.goto(f"{base}/lease/{lease3}?lang=en")
    form = page.locator(f"#f-lease-offer_sublease-{lease3}")
    form.locator("input[name=tenant]").fill(key("tenant").public_hex)
    form.locator("input[name=start]").fill(add_days(today, 400))  # after the parent's end: refused in place
    form.locator("input[name=end]").fill(add_days(today, 420))
    form.locator("input[name=rent]").fill("4500")
    form.locator("input[name=deposit]").fill("4500")
    form.locator("textarea[name=document_hash]").fill("转租合同 全文")
    form.locator("button[type=submit]").click()
    page.locator(f"#f-lease-offer_sublease-{lease3} .field.invalid .error").wait_for()
    assert "within the dates of its parent lease" in page.locator(f"#f-lease-offer_sublease-{lease3}").inner_text()
    form = page.locator(f"#f-lease-offer_sublease-{lease3}")
    form.locator("input[name=start]").fill(add_days(today, 20))
    form.locator("input[name=end]").fill(add_days(today, 200))
    assert "sent to the owner for consent" in submit(page, form.locator("button[type=submit]"))
    sign_out(page)
    sign_in_demo(page, base, "landlord")
    page.goto(base + "/me?lang=en")
    assert "waiting for your consent" in page.inner_text("#offers")
    page.locator("#offers a[href^='/offer/']").first.click()
    shot(page, "owner-consent-en")
    assert "You consented to the sublease" in submit(page, page.get_by_role("button", name="Sign consent"))
    sign_out(page)
    sign_in_demo(page, base, "tenant")
    page.locator("a[href^='/offer/']").first.click()
    assert "A sublease" in page.inner_text("main")
    assert "Sublease signed by you" in submit(page, page.get_by_role("button", name="Countersign lease"))
    [sid] = httpx.get(f"{base}/api/v1/leases/{lease3}").json()["value"]["subleases"]
    sub = httpx.get(f"{base}/api/v1/leases/{sid}").json()["value"]
    assert (sub["parent"], sub["tenant"], sub["landlord"]) == (
        lease3,
        key("tenant").public_hex,
        key("tenant2").public_hex,
    )
    page.goto(f"{base}/lease/{sid}?lang=en")
    assert lease3 in page.inner_text("main")
    # a sublease of the sublease (rules edition 6): Zhang, Li's landlord, consents, then the owner
    form = page.locator(f"#f-lease-offer_sublease-{sid}")
    form.locator("input[name=tenant]").fill(key("tenant3").public_hex)
    form.locator("input[name=start]").fill(add_days(today, 30))
    form.locator("input[name=end]").fill(add_days(today, 60))
    form.locator("input[name=rent]").fill("4000")
    form.locator("input[name=deposit]").fill("4000")
    form.locator("textarea[name=document_hash]").fill("再转租合同 全文")
    assert "to your landlord first, then to the owner" in submit(page, form.locator("button[type=submit]"))
    sign_out(page)
    sign_in_demo(page, base, "landlord")
    page.goto(base + "/me?lang=en")
    assert page.locator("#offers").count() == 0  # not asked before Zhang has consented
    sign_out(page)
    sign_in_demo(page, base, "tenant2")
    page.goto(base + "/me?lang=en")
    assert "waiting for your consent" in page.inner_text("#offers")
    page.locator("#offers a[href^='/offer/']").first.click()
    assert "A sublease of a sublease" in page.inner_text("main")
    assert "asked once the consent above is in" in page.inner_text("#consent")
    assert "waits for the owner's consent" in submit(page, page.get_by_role("button", name="Sign consent"))
    sign_out(page)
    sign_in_demo(page, base, "landlord")
    page.goto(base + "/me?lang=en")
    assert "waiting for your consent" in page.inner_text("#offers")
    page.locator("#offers a[href^='/offer/']").first.click()
    assert "✔" in page.inner_text("#consent-landlord")
    assert "waits for the subtenant's signature" in submit(page, page.get_by_role("button", name="Sign consent"))
    sign_out(page)
    sign_in_demo(page, base, "tenant3")
    page.locator("a[href^='/offer/']").first.click()
    assert "Sublease signed by you, the sub-landlord, its landlord and the owner" in submit(
        page, page.get_by_role("button", name="Countersign lease")
    )
    [leaf] = httpx.get(f"{base}/api/v1/leases/{sid}").json()["value"]["subleases"]
    signers = httpx.get(f"{base}/api/v1/leases/{leaf}").json()["value"]["signers"]
    assert signers == sorted(key(n).public_hex for n in ("landlord", "tenant", "tenant2", "tenant3"))
    sign_out(page)


def test_a_subtenant_agrees_in_the_browser_to_leave_sooner_than_the_sublease_notice(tmp_path: Path, page: Any) -> None:
    """Rules edition 7 in the browser: Wang proposes from the lease page to end Li's lease sooner
    than the notice of Zhang's sublease in it; Zhang reads on My page and on the offer what it cuts
    and agrees; Li countersigns, and the ledger ends both leases that day."""
    from .conftest import devserver
    from .ledger import lease_under_sublease

    ids = lease_under_sublease(tmp_path)
    today, lease1, s1 = ids["today"], ids["lease1"], ids["sublease"]
    on = add_days(today, 29)  # the sublease asks for 30 days' notice
    with devserver(tmp_path) as base:
        page.goto(base + "/?lang=en")
        sign_in_demo(page, base, "landlord")
        page.goto(f"{base}/lease/{lease1}?lang=en")
        form = page.locator(f"#f-lease-propose_end-{lease1}")
        form.locator("input[name=on]").fill(on)
        form.locator("textarea[name=reason_hash]").fill("协商解除协议 全文")
        assert "each subtenant so cut short is asked to agree first" in submit(
            page, form.locator("button[type=submit]")
        )
        sign_out(page)
        sign_in_demo(page, base, "tenant2")
        page.goto(base + "/me?lang=en")
        offers = page.inner_text("#offers")
        assert "waiting for your agreement to leave sooner than your notice" in offers
        assert f"Sublease {s1} would end on {on} instead of {add_days(today, 250)}" in offers
        page.locator("#offers a[href^='/offer/']").first.click()
        assert "you agree to leave your home sooner than your notice" in page.inner_text("#offer-agreement")
        shot(page, "subtenant-agrees-en")
        agreed = submit(page, page.get_by_role("button", name="Agree to leave sooner"))
        assert "now waits for the tenant's signature" in agreed
        sign_out(page)
        sign_in_demo(page, base, "tenant")
        page.locator("a[href^='/offer/']").first.click()
        assert "Signed by both sides" in submit(page, page.get_by_role("button", name="Countersign lease"))
        for lid in (lease1, s1):
            assert httpx.get(f"{base}/api/v1/leases/{lid}").json()["value"]["ends_on"] == on
        sign_out(page)


def _fill_lease_offer(page: Any, unit: str, start: str, end: str, money: str, document: str) -> Any:
    """Fill My page's lease offer form to the demo tenant through the first mandate (rent and
    deposit ``money``); the form."""
    form = page.locator("#f-lease-offer")
    form.locator("select[name=unit]").select_option(unit)
    form.locator("input[name=tenant]").fill(key("tenant").public_hex)
    form.locator("select[name=mandate]").select_option(index=1)
    form.locator("input[name=start]").fill(start)
    form.locator("input[name=end]").fill(end)
    form.locator("input[name=rent]").fill(money)
    form.locator("input[name=deposit]").fill(money)
    form.locator("textarea[name=document_hash]").fill(document)
    return form


def _fill_overlapping_offer(page: Any, server: dict[str, Any]) -> None:
    """Fill My page's lease offer form (agency B's) with a lease of unit 3 overlapping its lease."""
    today = server["today"]
    _fill_lease_offer(page, server["unit3"], add_days(today, 30), add_days(today, 200), "9000", "another contract")


def test_second_agency_overlapping_lease_is_refused_in_both_languages(server: dict[str, Any], page: Any) -> None:
    base = server["base"]
    sign_in_demo(page, base, "agency_b")
    for lang, expected in (("en", "already leased for part of these dates"), ("zh", "已有租约")):
        page.goto(f"{base}/me?lang={lang}")
        _fill_overlapping_offer(page, server)
        page.locator("#f-lease-offer button[type=submit]").click()
        err = page.locator("#f-lease-offer .field.invalid .error")
        err.wait_for()
        assert expected in err.inner_text()
        assert "LEASE_OVERLAP" not in page.content()
        shot(page, f"overlap-refused-{lang}")


def test_language_switch(server: dict[str, Any], page: Any) -> None:
    base = server["base"]
    page.goto(base + "/?lang=en")
    assert page.get_attribute("html", "lang") == "en"
    assert "Find a home you can verify" in page.inner_text("h1")
    page.click("#lang-switch")
    page.wait_for_load_state()
    assert page.get_attribute("html", "lang") == "zh-Hans"
    assert "Find a home you can verify" not in page.inner_text("h1")
    shot(page, "home-zh")
    page.goto(base + "/check?code=" + server["code"])  # the choice sticks (cookie)
    assert page.get_attribute("html", "lang") == "zh-Hans"
    assert "真实有效" in page.inner_text("#verification")
    shot(page, "check-code-zh")
    page.goto(f"{base}/listing/{server['listing']}")
    shot(page, "listing-zh")


def test_owner_is_told_live_when_an_agency_publishes(server: dict[str, Any], page: Any, browser: Any) -> None:
    base, today = server["base"], server["today"]
    sign_in_demo(page, base, "landlord")
    page.goto(base + "/me?lang=en")
    ctx = browser.new_context(viewport={"width": 412, "height": 915}, locale="en-US")
    agency = ctx.new_page()
    try:
        sign_in_demo(agency, base, "agency_b")
        form = agency.locator("#f-listing-publish")
        form.locator("select[name=unit]").select_option(server["unit3"])
        form.locator("select[name=mandate]").select_option(index=1)
        form.locator("input[name=rent]").fill("9000")
        form.locator("input[name=deposit]").fill("9000")
        form.locator("input[name=available_from]").fill(add_days(today, 376))  # once tenant 2's lease is over
        form.locator("textarea[name=description]").fill("汇贤居一室户")
        assert "Publish a listing" in submit(agency, form.locator("button[type=submit]"))
    finally:
        ctx.close()
    live = page.locator("#live")
    live.locator("li", has_text="A listing was published").wait_for()
    shot(page, "owner-notified-en")


def test_the_tour_logs_no_console_error_on_a_phone(server: dict[str, Any], browser: Any) -> None:
    """The public pages of the README's tour, in Chinese on a narrow phone: nothing in the console
    (every first visit logged a 404 for /favicon.ico: no page named an icon), nothing wider than
    the screen (the listing's QR code and its verification panel)."""
    ctx = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN")
    page = ctx.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"{m.text} {m.location}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    base = server["base"]
    try:
        for path in ("/?lang=zh", f"/listing/{server['listing']}", f"/check?code={server['code']}", "/district"):
            page.goto(base + path)
            page.wait_for_load_state("networkidle")
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
        assert errors == []
        icon = page.request.get(base + str(page.get_attribute("link[rel=icon]", "href")))
        assert icon.status == 200 and icon.headers["content-type"].startswith("image/")
    finally:
        ctx.close()


def test_a_form_refused_by_keyboard_puts_the_focus_on_its_refusal(server: dict[str, Any], page: Any) -> None:
    """Sent with the keyboard and refused, the form htmx swaps in had nothing focused (the submit
    button that held the focus was replaced): the refused field now takes it, marked invalid and
    described by its refusal."""
    base = server["base"]
    sign_in_demo(page, base, "agency_b")
    page.goto(f"{base}/me?lang=en")
    _fill_overlapping_offer(page, server)
    page.locator("#f-lease-offer button[type=submit]").focus()
    page.keyboard.press("Enter")
    page.locator("#f-lease-offer .field.invalid .error").wait_for()
    page.locator("#f-lease-offer :focus").wait_for()
    focused = page.evaluate(
        """() => {
            const e = document.activeElement, d = document.getElementById(e.getAttribute('aria-describedby'));
            return [e.getAttribute('aria-invalid'), d ? d.textContent : null, e.closest('.field.invalid') !== null];
        }"""
    )
    assert focused[0] == "true" and focused[2], focused
    assert "already leased for part of these dates" in focused[1]
    page.keyboard.type("x")  # the keyboard user goes on from there (focus is not lost on the page)


def test_the_language_switch_of_a_form_refused_without_javascript_leads_to_its_page(
    server: dict[str, Any], browser: Any
) -> None:
    """Without JavaScript a refused form answers its POST with the whole page: its language switch
    linked to the form's POST address, which a click asked for with GET (a bare JSON 405)."""
    ctx = browser.new_context(java_script_enabled=False, locale="en-US")
    page = ctx.new_page()
    page.set_default_timeout(15_000)
    try:
        sign_in_demo(page, server["base"], "agency_b")
        page.goto(server["base"] + "/me?lang=en")
        form = page.locator("#f-lease-offer")
        with page.expect_navigation():
            form.locator("button[type=submit]").click()  # sent empty: refused, the page comes back whole
        assert page.locator(".error").count() > 0
        with page.expect_navigation():
            page.click("#lang-switch")
        assert page.get_attribute("html", "lang") == "zh-Hans"
        assert page.url.split("?")[0] == server["base"] + "/me"
    finally:
        ctx.close()
