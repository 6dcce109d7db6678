"""Every portal form makes a body its transaction kind accepts (checked with the registry's own
schema), for every role that may use it: a form whose body the ledger refuses fails every time."""

from __future__ import annotations

import gettext
import hashlib

import pytest

from anju.registry.kinds import KINDS
from anju.registry.schema import BodyCheck
from anju.web.forms import FORMS, Field, Form, body_fields, parse
from anju.web.i18n import gettext_for
from anju.web.refusals import MESSAGES

_ = gettext.NullTranslations().gettext
KEY = "ab" * 32
ID = "0123456789abcdef"


def _sample(f: Field) -> str:
    return {
        "text": "x",
        "textarea": "a description",
        "date": "2027-01-31",
        "month": "2027-01",
        "money": "1234.50",
        "int": str(f.lo if f.lo is not None else 1),
        "bool": "on",
        "key": KEY,
        "id": ID,
        "digest": "cd" * 32,
        "choice": f.choices[0][0] if f.choices else "",
        "sha256": "some text",
        "commit": "Room 1201, 88 Some Road",
        "certificate": "沪(2026)徐汇区不动产权第001234号",
    }[f.type]


SIGNED = [form for form in FORMS.values() if form.kind is not None]


@pytest.mark.parametrize("form", SIGNED, ids=[f.name for f in SIGNED])
def test_a_filled_form_is_a_body_its_kind_accepts(form: Form) -> None:
    assert form.kind in KINDS, form.kind
    raw = {f.name: _sample(f) for f in form.fields}
    fields, refusal, _notes = parse(form, raw, _)
    assert not refusal, (form.name, refusal)
    check = BodyCheck(KINDS[form.kind].fields)
    for role in form.roles:
        body = {"chain": "c", "kind": form.kind, "signer": KEY, "seq": 1, **body_fields(form, fields, role, b"k" * 32)}
        check(body)  # raises TxRejected (UNKNOWN_FIELD, INVALID_FIELD) on a body the ledger refuses
    optional = [f for f in form.fields if not f.required and f.type != "bool"]
    if optional:  # and with every optional field left empty
        fields, refusal, _notes = parse(form, {k: v for k, v in raw.items() if k not in {f.name for f in optional}}, _)
        assert not refusal
        for role in form.roles:
            check(
                {"chain": "c", "kind": form.kind, "signer": KEY, "seq": 1, **body_fields(form, fields, role, b"k" * 32)}
            )


def test_the_forms_that_failed_every_time() -> None:
    """Give notice sent no mode; a dispute and a fake-listing report sent one hash for a list."""
    notice, _r, _n = parse(FORMS["lease.terminate"], {"lease": ID, "on": "2027-01-31", "reason_hash": "r"}, _)
    assert body_fields(FORMS["lease.terminate"], notice, "tenant")["mode"] == "notice"
    for name in ("dispute.open", "report.file"):
        raw = {f.name: _sample(f) for f in FORMS[name].fields}
        fields, _r, _n = parse(FORMS[name], raw, _)
        evidence = body_fields(FORMS[name], fields, "tenant")["evidence"]
        assert isinstance(evidence, list) and len(evidence) == 1 and len(evidence[0]) == 64


def test_numbers_that_identify_people_or_homes_are_salted_commitments() -> None:
    """An address or an account number has little entropy: its plain SHA-256 could be found by
    trying them all, so the portal commits to it with a fresh salt (and tells the user the salt)."""
    for form, name in (("unit.register", "address_commitment"), ("bank.attest_escrow", "account_commitment")):
        raw = {f.name: _sample(f) for f in FORMS[form].fields}
        raw[name] = "衡山路 88 号 1201 室"
        first, _r, notes = parse(FORMS[form], raw, _)
        second, _r, _n = parse(FORMS[form], raw, _)
        assert name in notes and first[name] != second[name], form
        assert first[name] != hashlib.sha256(raw[name].encode()).hexdigest()
        assert first[name] == hashlib.sha256(bytes.fromhex(notes[name]) + raw[name].encode()).hexdigest()


def test_a_certificate_number_is_salted_by_the_authoritys_key() -> None:
    """One certificate, one commitment for the authority that attests it (so the registry refuses
    a second unit on it), yet nobody without the authority's key can test guesses against it."""
    form = FORMS["title.attest"]
    raw = {"unit": ID, "certificate_commitment": "沪(2026)徐汇区不动产权第001234号"}
    fields, _r, notes = parse(form, raw, _)
    assert not notes
    once = body_fields(form, fields, "authority", b"a" * 32)["certificate_commitment"]
    again = body_fields(form, fields, "authority", b"a" * 32)["certificate_commitment"]
    other = body_fields(form, fields, "authority", b"b" * 32)["certificate_commitment"]
    assert once == again != other and len(once) == 64
    assert once != hashlib.sha256(raw["certificate_commitment"].encode()).hexdigest()


def test_money_that_is_no_amount_is_a_sentence_next_to_its_field_not_a_server_error() -> None:
    """Decimal reads "NaN", "Infinity" and "1e999999" as numbers no sum can be (comparing or
    rounding them raised, and the action answered 500); an amount beyond what the ledger holds is
    refused next to its field before anything is signed."""
    form = FORMS["rent.pay"]
    for typed, code in (
        ("NaN", "FORM_MONEY"),
        ("sNaN", "FORM_MONEY"),
        ("-Infinity", "FORM_MONEY"),
        ("Infinity", "FORM_MONEY"),
        ("1e999999", "FORM_MONEY"),
        ("-5", "FORM_MONEY"),
        ("1.001", "FORM_MONEY"),
        ("1e3", "FORM_MONEY"),  # (Decimal reads it as 1000)
        ("1E2", "FORM_MONEY"),
        ("1_000", "FORM_MONEY"),  # (so do Decimal and int(): 1000)
        ("+5", "FORM_MONEY"),
        ("0x10", "FORM_MONEY"),
        (".5", "FORM_MONEY"),
        ("5.", "FORM_MONEY"),
        ("١٢٣", "FORM_MONEY"),  # (Arabic-Indic digits, which int() reads)
        ("元", "FORM_MONEY"),
        ("9500元元", "FORM_MONEY"),
        ("¥¥9500", "FORM_MONEY"),
        ("100000000001", "INTEGER_OUT_OF_RANGE"),  # 10^13 fen is the most the ledger holds
        ("9" * 30, "INTEGER_OUT_OF_RANGE"),
    ):
        raw = {"lease": ID, "period": "2027-01", "months": "1", "amount": typed}
        fields, refusal, _n = parse(form, raw, _)
        assert "amount" not in fields, typed
        assert refusal.fields.get("amount") == MESSAGES[code][0], (typed, refusal)
    fields, refusal, _n = parse(form, {"lease": ID, "period": "2027-01", "months": "1", "amount": "100000000000"}, _)
    assert not refusal and fields["amount"] == 10**13
    for typed, fen in (
        ("9,500", 950_000),
        ("¥9500.5", 950_050),
        ("９５００．５０", 950_050),
        ("￥1，000", 100_000),
        ("9500元", 950_000),
        ("¥ 9,500 元", 950_000),
    ):
        fields, refusal, _n = parse(form, {"lease": ID, "period": "2027-01", "months": "1", "amount": typed}, _)
        assert not refusal and fields["amount"] == fen, (typed, refusal)


def test_text_that_was_not_utf8_is_refused_next_to_its_field() -> None:
    """A form body's bytes that are not UTF-8 reach the form as U+FFFD (the server decodes with
    "replace"): the portal refuses them, next to their field, instead of putting "\ufffd\ufffd" on the
    ledger as a unit's district or hashing it as a contract text."""
    form = FORMS["unit.register"]
    raw = {f.name: _sample(f) for f in form.fields}
    for name in ("district", "address_commitment"):
        fields, refusal, notes = parse(form, {**raw, name: "徐汇\ufffd\ufffd"}, _)
        assert refusal.fields.get(name) == MESSAGES["FORM_ENCODING"][0], (name, refusal)
        assert name not in fields and name not in notes
    end = {"lease": ID, "on": "2027-01-31", "reason_hash": "\ufffd"}
    fields, refusal, _n = parse(FORMS["lease.propose_end"], end, _)
    assert refusal.fields.get("reason_hash") == MESSAGES["FORM_ENCODING"][0]


def test_text_longer_than_the_ledger_takes_is_said_so_next_to_its_field() -> None:
    """A street, district or listing description longer than its kind's field takes is refused as
    too long (it was "not valid here", from the ledger, after signing was attempted)."""
    for name, field in (("unit.register", "street"), ("unit.register", "district"), ("listing.publish", "description")):
        form = FORMS[name]
        kind = FORMS[name].kind
        assert kind is not None
        most = KINDS[kind].fields[field].max_len
        raw = {f.name: _sample(f) for f in form.fields}
        fields, refusal, _n = parse(form, {**raw, field: "路" * most}, _)
        assert field in fields and field not in refusal.fields, (name, field)
        fields, refusal, _n = parse(form, {**raw, field: "路" * (most + 1)}, _)
        assert refusal.fields.get(field) == MESSAGES["FORM_TOO_LONG"][0], (name, field)
        assert field not in fields


# Text the portal puts on the ledger in clear: a unit's location, a listing's description, a
# deposit deduction's reason.
CLEAR = (
    ("unit.register", "district"),
    ("unit.register", "street"),
    ("unit.register", "neighbourhood"),
    ("listing.publish", "description"),
    ("deposit.return", "deduction_reason"),
)
PERSONAL = (
    "联系王先生 138 1234 5678",
    "电话：１３８１２３４５６７８",  # full-width digits
    "+86 139-1234-5678",
    "座机 021-64381234",
    "房东身份证 31010419900101123X",
    "mail a.b@example.com",
    "加微信: anju_rent88",
    "衡山路88号",
    "3号楼1201室",
    "Room 1201",
)
FINE = ("衡山坊", "湖南路街道", "月租9500元，押一付三", "2026-12-01 起", "Two rooms, near metro")
# Numbers before 号 are days and metro lines in free text; in a place's own name, a door number.
FREE = ("南北通透2室1厅，近地铁1号线，5月1号起可入住", "8号起租")


@pytest.mark.parametrize(("name", "field"), CLEAR, ids=[f"{n}-{f}" for n, f in CLEAR])
def test_personal_data_in_text_kept_in_clear_on_the_ledger_is_refused_next_to_its_field(name: str, field: str) -> None:
    """The ledger keeps these texts as typed, public and forever: a phone or ID number, an e-mail or
    messaging account, a person's name, or a building, door or room number is refused there before
    anything is signed (the full address belongs in the address commitment), and the form says so
    beside the field."""
    form = FORMS[name]
    assert next(f for f in form.fields if f.name == field).help or field == "district"
    raw = {f.name: _sample(f) for f in form.fields}
    for typed in PERSONAL:
        fields, refusal, _n = parse(form, {**raw, field: typed}, _)
        assert refusal.fields.get(field) == MESSAGES["FORM_PERSONAL_DATA"][0], (field, typed, refusal)
        assert field not in fields
    for typed in FINE:
        fields, refusal, _n = parse(form, {**raw, field: typed}, _)
        assert not refusal and fields[field] == typed, (field, typed, refusal)
    place = field in ("district", "street", "neighbourhood")
    for typed in FREE:
        fields, refusal, _n = parse(form, {**raw, field: typed}, _)
        assert (field in refusal.fields) == place, (field, typed, refusal)


# What a landlord types about a flat in Shanghai: no person, no door in it (the check refused each).
ORDINARY = (
    "仅限女士",
    "适合单身女士",
    "白领女士优先",
    "男士女士均可",
    "房东是一位老先生",
    "各位先生请注意",
    "近世纪公园3号门",
    "Apartment 2 bedrooms",
    "Flat 3 min to Line 1",
    "block 5 min walk",
    "WeChat payment accepted",
)
ORDINARY_PLACE = ("徐家汇花园", "漕溪北路", "近地铁1号线", "地铁1号线徐家汇站3号口")
# Personal data written to slip past: spaced or Chinese-numeral phones, an invisible space, a title.
EVASIONS = (
    "1 3 8 1 2 3 4 5 6 7 8",
    "电话一三八一二三四五六七八",
    "138\u200b1234\u200b5678",
    "tel 021 6438 1234",
    "wx: rent_anju",
    "WeChat ID: zhang_san88",
    "Contact Mr Wang",
    "欧阳先生",
)


@pytest.mark.parametrize(("name", "field"), CLEAR, ids=[f"{n}-{f}" for n, f in CLEAR])
def test_ordinary_words_pass_and_simple_evasions_do_not(name: str, field: str) -> None:
    """A valid text refused is a bug: "仅限女士" names no one (the check took any two characters
    before 女士 for a surname), "3号门" is a gate, "2 bedrooms" a count; and personal data spaced
    out, in Chinese numerals or behind a zero-width space is still refused."""
    form = FORMS[name]
    raw = {f.name: _sample(f) for f in form.fields}
    place = field in ("district", "street", "neighbourhood")
    for typed in ORDINARY + (ORDINARY_PLACE if place else ()):
        fields, refusal, _n = parse(form, {**raw, field: typed}, _)
        assert not refusal and fields[field] == typed, (field, typed, refusal)
    for typed in EVASIONS:
        fields, refusal, _n = parse(form, {**raw, field: typed}, _)
        assert refusal.fields.get(field) == MESSAGES["FORM_PERSONAL_DATA"][0], (field, typed, refusal)


def test_a_certificate_or_licence_number_is_not_taken_for_personal_data() -> None:
    """A title certificate or licence number goes on the ledger salted and hashed, never in clear:
    its long digits are no personal data to refuse (a unified social credit code, 18 characters,
    and a title certificate's eight-digit serial were refused as FORM_PERSONAL_DATA)."""
    for name, field in (
        ("title.attest", "certificate_commitment"),
        ("authority.license_agency", "licence"),
        ("authority.license_bank", "licence"),
    ):
        form = FORMS[name]
        raw = {f.name: _sample(f) for f in form.fields}
        for typed in ("沪(2019)徐汇区不动产权第01234567号", "91310104MA1FL5XX1X"):
            fields, refusal, _n = parse(form, {**raw, field: typed}, _)
            assert not refusal and fields[field] == typed, (name, typed, refusal)


def test_a_licence_number_is_salted_by_the_authoritys_key() -> None:
    """The ledger's `licence` is a commitment to the licence number: a plain SHA-256 of it could be
    found by trying the few numbers licences have."""
    for name in ("authority.license_agency", "authority.license_bank"):
        form = FORMS[name]
        fields, _r, notes = parse(form, {"party": KEY, "licence": "SPD-2026-001"}, _)
        assert not notes
        once = body_fields(form, fields, "authority", b"a" * 32)["licence"]
        assert once == body_fields(form, fields, "authority", b"a" * 32)["licence"], name
        assert once != body_fields(form, fields, "authority", b"b" * 32)["licence"], name
        assert once != hashlib.sha256(b"SPD-2026-001").hexdigest() and len(once) == 64, name


def test_no_label_says_optional_when_the_page_adds_it() -> None:
    """The form template writes "(optional)" after every field that may be left empty: a label that
    says it too read "Listing (optional) (optional)" on the lease offer form."""
    for form in FORMS.values():
        for f in form.fields:
            if not f.required and f.type != "bool":
                assert "optional" not in f.label.lower(), (form.name, f.label)


def test_a_whole_number_field_says_what_it_takes() -> None:
    """A floor area of "45.5" was answered "Please enter a number." (it is one), "1_000" was read as
    1000 (Python's int() takes underscores), and "0" got "outside the allowed range" without the range."""
    form = FORMS["unit.register"]
    raw = {f.name: _sample(f) for f in form.fields}
    for typed in ("45.5", "1e3", "1_000", "4 5", "abc", "٤٥"):  # (Arabic-Indic digits, which int() reads)
        fields, refusal, _n = parse(form, {**raw, "floor_area_m2": typed}, _)
        assert "floor_area_m2" not in fields, typed
        assert refusal.fields["floor_area_m2"] == "Please enter a whole number.", typed
    for typed in ("0", "10001", "-3"):
        fields, refusal, _n = parse(form, {**raw, "floor_area_m2": typed}, _)
        assert refusal.fields["floor_area_m2"] == "Please enter a whole number from 1 to 10000.", typed
    zh = gettext_for("zh")
    _f, refusal, _n = parse(form, {**raw, "rooms": "51"}, zh)
    assert refusal.fields["rooms"] == "请输入 0 到 50 之间的整数。"
    for typed, value in (("45", 45), ("+45", 45), ("１２", 12)):  # (a full-width IME's digits are digits)
        fields, refusal, _n = parse(form, {**raw, "floor_area_m2": typed}, _)
        assert not refusal and fields["floor_area_m2"] == value, typed


def test_a_deduction_reason_without_an_amount_is_not_dropped_unseen() -> None:
    """A landlord who typed why part of the deposit is kept but no amount returned the whole deposit
    with no word: the form now asks for the amount (or an empty reason)."""
    form = FORMS["deposit.return"]
    fields, refusal, _n = parse(form, {"lease": ID, "deduction_reason": "broken window"}, _)
    assert refusal.fields["deduction_amount"] == MESSAGES["FORM_DEDUCTION_AMOUNT"][0]
    fields, refusal, _n = parse(form, {"lease": ID, "deduction_reason": "broken window", "deduction_amount": "300"}, _)
    assert not refusal
    assert body_fields(form, fields, "landlord")["deductions"] == [{"reason": "broken window", "amount": 30000}]
    for raw in ({"lease": ID}, {"lease": ID, "deduction_amount": "300"}):
        _f, refusal, _n = parse(form, raw, _)
        assert not refusal, raw
