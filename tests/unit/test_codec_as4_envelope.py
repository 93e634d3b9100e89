"""SOAP 1.2 / eb:Messaging building and the packaging checks of parse_envelope (ebMS3 §5, ICD §4.2-4.3),
plus the ebMS error table (ICD Annex 4)."""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from lxml import etree

from simulator.codecs.as4 import constants as c
from simulator.codecs.as4.envelope import (
    build_signal_envelope,
    build_user_message_envelope,
    format_timestamp,
    parse_envelope,
    serialise,
)
from simulator.codecs.as4.errors import EBMS_ERRORS, EbmsError
from simulator.codecs.as4.model import ErrorEntry, ErrorSignal, PartInfo, PullRequest, Receipt
from tests.unit.codec_fixtures import EB, T0, filing

SOAP = "{http://www.w3.org/2003/05/soap-envelope}"
GZ_XML = {c.PROPERTY_MIME_TYPE: "application/xml", c.PROPERTY_COMPRESSION_TYPE: c.GZIP_MEDIA_TYPE}


def _filing_root(**changes: Any) -> etree._Element:
    um = filing(part_infos=(PartInfo("message", GZ_XML),), **changes)
    return etree.fromstring(serialise(build_user_message_envelope(um)))


def _code(root: etree._Element, attachments: tuple[str, ...] = ("message",)) -> tuple[str, str]:
    with pytest.raises(EbmsError) as info:
        parse_envelope(root, attachments)
    return info.value.code, info.value.detail


def test_user_message_round_trip() -> None:
    um = filing(
        part_infos=(PartInfo("message", GZ_XML),),
        ref_to_message_id="prev@x",
        mpc=c.c2t_mpc("NL0123456789"),
        message_properties={"originalSender": "NL1"},
    )
    root = build_user_message_envelope(um)
    messaging = root.find(f"{SOAP}Header/{EB}Messaging")
    assert messaging is not None
    assert messaging.get(f"{SOAP}mustUnderstand") == "true"
    assert messaging.get(c.WSU_ID, "").startswith("id-")
    assert root.find(f"{SOAP}Body").get(c.WSU_ID, "").startswith("id-")
    parsed = parse_envelope(etree.fromstring(serialise(root)), ["message"])
    assert parsed.message.kind == "user"
    assert parsed.message.user_message == um
    assert parsed.message.timestamp == T0


def test_builders_are_deterministic_and_follow_the_icd_example() -> None:
    text = serialise(build_user_message_envelope(filing()))
    assert text == serialise(build_user_message_envelope(filing()))
    for fragment in (
        b'<eb:AgreementRef type="ics2-interface-version">EU-ICS2-TI-V2.0</eb:AgreementRef>',
        b'<eb:Service type="eu-customs-service-type">eu_ics2_t2c</eb:Service>',
        b'<eb:PartyId type="urn:oasis:names:tc:ebcore:partyid-type:unregistered:eu-customs:auth">sti-taxud',
        b"<eb:Timestamp>2025-03-01T12:30:45.123Z</eb:Timestamp>",
    ):
        assert fragment in text


def test_timestamps_are_utc_with_milliseconds() -> None:
    assert format_timestamp(datetime(2025, 1, 2, 3, 4, 5, 678901)) == "2025-01-02T03:04:05.678Z"
    root = _filing_root()
    ts = root.find(f".//{EB}Timestamp")
    assert ts is not None
    ts.text = "2025-03-01T13:30:45.123+01:00"
    assert parse_envelope(root, ["message"]).message.timestamp == T0
    ts.text = "2025-03-01T12:30:45"  # 'Z' optional, UTC implied (ICD §4.2.1)
    assert parse_envelope(root, ["message"]).message.timestamp == datetime(2025, 3, 1, 12, 30, 45, tzinfo=UTC)


def test_signals_round_trip() -> None:
    pull = parse_envelope(
        etree.fromstring(serialise(build_signal_envelope(PullRequest("p@x", T0, "urn:q")))), []
    )
    assert (pull.message.kind, pull.message.pull_mpc) == ("pull", "urn:q")
    entry = ErrorEntry(
        "EBMS:0004", "failure", "Other", "Content", "ebMS", None, "Other error.", "not registered", "A001"
    )
    signal = ErrorSignal("e@x", T0, "m@x", (entry,))
    error = parse_envelope(etree.fromstring(serialise(build_signal_envelope(signal))), []).message
    assert error.kind == "error"
    assert error.ref_to_message_id == "m@x"
    assert error.errors == (dataclasses.replace(entry, ref_to_message_in_error="m@x"),)


def test_pull_request_without_mpc_means_the_default_mpc() -> None:
    root = etree.fromstring(serialise(build_signal_envelope(PullRequest("p@x", T0, "urn:q"))))
    pull = root.find(f".//{EB}PullRequest")
    assert pull is not None
    del pull.attrib["mpc"]
    assert parse_envelope(root, []).message.pull_mpc == c.DEFAULT_MPC


def _remove(path: str) -> Callable[[etree._Element], None]:
    def edit(root: etree._Element) -> None:
        el = root.find(path)
        assert el is not None, path
        el.getparent().remove(el)

    return edit


def _empty(path: str) -> Callable[[etree._Element], None]:
    def edit(root: etree._Element) -> None:
        el = root.find(path)
        assert el is not None, path
        el.text = " "

    return edit


def _duplicate(path: str) -> Callable[[etree._Element], None]:
    def edit(root: etree._Element) -> None:
        el = root.find(path)
        assert el is not None, path
        el.addnext(etree.fromstring(etree.tostring(el)))

    return edit


def _second_messaging_in_body(root: etree._Element) -> None:
    messaging = root.find(f"{SOAP}Header/{EB}Messaging")
    root.find(f"{SOAP}Body").append(etree.fromstring(etree.tostring(messaging)))


def _messaging_wrapped(root: etree._Element) -> None:
    header = root.find(f"{SOAP}Header")
    messaging = header.find(f"{EB}Messaging")
    wrapper = etree.SubElement(header, "{urn:evil}Wrapper")
    wrapper.append(messaging)


def _body_content(root: etree._Element) -> None:
    etree.SubElement(root.find(f"{SOAP}Body"), "{urn:x}Payload").text = "x"


def _set(path: str, attr: str, value: str | None) -> Callable[[etree._Element], None]:
    def edit(root: etree._Element) -> None:
        el = root.find(path)
        assert el is not None, path
        if value is None:
            del el.attrib[attr]
        else:
            el.set(attr, value)

    return edit


def _text(path: str, value: str) -> Callable[[etree._Element], None]:
    def edit(root: etree._Element) -> None:
        el = root.find(path)
        assert el is not None, path
        el.text = value

    return edit


def _add_signal(root: etree._Element) -> None:
    etree.SubElement(root.find(f".//{EB}Messaging"), f"{EB}SignalMessage")


UM = f".//{EB}UserMessage"
CASES: list[tuple[str, Callable[[etree._Element], None], str, str]] = [
    ("second-messaging-in-body", _second_messaging_in_body, "EBMS:0009", "2 eb:Messaging elements"),
    ("messaging-not-under-header", _messaging_wrapped, "EBMS:0009", "directly under env:Header"),
    (
        "no-must-understand",
        _set(f".//{EB}Messaging", f"{SOAP}mustUnderstand", None),
        "EBMS:0009",
        "mustUnderstand",
    ),
    ("two-units", _add_signal, "EBMS:0009", "exactly one UserMessage or SignalMessage"),
    ("no-message-id", _remove(f"{UM}/{EB}MessageInfo/{EB}MessageId"), "EBMS:0009", "MessageId is missing"),
    ("empty-message-id", _empty(f"{UM}/{EB}MessageInfo/{EB}MessageId"), "EBMS:0009", "MessageId is empty"),
    ("no-timestamp", _remove(f"{UM}/{EB}MessageInfo/{EB}Timestamp"), "EBMS:0009", "Timestamp is missing"),
    ("bad-timestamp", _text(f"{UM}/{EB}MessageInfo/{EB}Timestamp", "yesterday"), "EBMS:0009", "xs:dateTime"),
    ("no-from", _remove(f"{UM}/{EB}PartyInfo/{EB}From"), "EBMS:0009", "From is missing"),
    ("no-to-role", _remove(f"{UM}/{EB}PartyInfo/{EB}To/{EB}Role"), "EBMS:0009", "To/eb:Role is missing"),
    (
        "two-party-ids",
        _duplicate(f"{UM}/{EB}PartyInfo/{EB}From/{EB}PartyId"),
        "EBMS:0009",
        "repeated 2 times",
    ),
    ("empty-party-id", _empty(f"{UM}/{EB}PartyInfo/{EB}From/{EB}PartyId"), "EBMS:0009", "PartyId is empty"),
    ("no-agreement", _remove(f"{UM}/{EB}CollaborationInfo/{EB}AgreementRef"), "EBMS:0009", "AgreementRef"),
    ("no-service", _remove(f"{UM}/{EB}CollaborationInfo/{EB}Service"), "EBMS:0009", "Service is missing"),
    ("no-action", _remove(f"{UM}/{EB}CollaborationInfo/{EB}Action"), "EBMS:0009", "Action is missing"),
    ("body-not-empty", _body_content, "EBMS:0009", "Body must be empty"),
    ("href-unknown", _set(f".//{EB}PartInfo", "href", "cid:other"), "EBMS:0011", "names no MIME part"),
    ("href-external", _set(f".//{EB}PartInfo", "href", "http://x/p"), "EBMS:0011", "external payloads"),
    ("href-missing", _set(f".//{EB}PartInfo", "href", None), "EBMS:0009", "SOAP Body"),
    ("part-twice", _duplicate(f".//{EB}PartInfo"), "EBMS:0009", "two PartInfo"),
    ("no-mimetype", _remove(f".//{EB}Property[@name='MimeType']"), "EBMS:0009", "no MimeType"),
    ("property-no-name", _set(f".//{EB}Property", "name", None), "EBMS:0009", "without @name"),
]


@pytest.mark.parametrize(
    ("edit", "code", "detail"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_packaging_rules(edit: Callable[[etree._Element], None], code: str, detail: str) -> None:
    root = _filing_root()
    edit(root)
    got_code, got_detail = _code(root)
    assert got_code == code
    assert detail in got_detail


def test_header_errors_refer_to_the_message_once_its_id_is_known() -> None:
    root = _filing_root()
    _remove(f"{UM}/{EB}CollaborationInfo/{EB}Action")(root)
    with pytest.raises(EbmsError) as info:
        parse_envelope(root, ["message"])
    assert info.value.ref_to_message_id == filing().message_id


def test_unreferenced_mime_part_is_mime_inconsistency() -> None:
    assert _code(_filing_root(), ("message", "extra"))[0] == "EBMS:0007"


def test_signal_with_attachments_is_mime_inconsistency() -> None:
    root = etree.fromstring(serialise(build_signal_envelope(PullRequest("p@x", T0, "urn:q"))))
    assert _code(root, ("stray",))[0] == "EBMS:0007"


def test_receipt_requires_ref_to_message_id() -> None:
    root = etree.fromstring(serialise(build_signal_envelope(Receipt("r@x", T0, "m@x", ()))))
    _remove(f".//{EB}RefToMessageId")(root)
    assert _code(root, ())[0] == "EBMS:0009"


@pytest.mark.parametrize(
    ("document", "detail"),
    [
        (
            b'<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body/></S:Envelope>',
            "SOAP 1.1",
        ),
        (b"<Envelope/>", "not a SOAP 1.2 Envelope"),
        (
            b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body/></e:Envelope>',
            "Header then",
        ),
    ],
)
def test_only_soap12_envelopes_with_header_and_body(document: bytes, detail: str) -> None:
    code, got = _code(etree.fromstring(document), ())
    assert code == "EBMS:0009"
    assert detail in got


def test_no_messaging_header() -> None:
    doc = b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Header/><e:Body/></e:Envelope>'
    assert _code(etree.fromstring(doc), ())[1].startswith("no eb:Messaging")


# --- ebMS error table (ICD Annex 4) ---------------------------------------------------------


def test_error_table_covers_the_icd_codes() -> None:
    expected = [f"EBMS:{n:04d}" for n in (*range(1, 12), 101, 102, 103, 201, 202, 301, 302, 303)]
    assert sorted(EBMS_ERRORS) == expected
    assert EBMS_ERRORS["EBMS:0101"].origin == "security"
    assert EBMS_ERRORS["EBMS:0202"].origin == "reliability"
    assert EBMS_ERRORS["EBMS:0006"].severity == "warning"
    assert EBMS_ERRORS["EBMS:0007"].category == "Unpackaging"


def test_ebms_error_properties_and_sub_code() -> None:
    error = EbmsError("4", "certificate not registered for NL0123456789", "m@x", "A001")
    assert error.code == "EBMS:0004"
    assert (error.short_description, error.severity, error.category, error.origin) == (
        "Other",
        "failure",
        "Content",
        "ebMS",
    )
    assert error.error_detail == "A001: certificate not registered for NL0123456789"
    assert str(error) == "EBMS:0004 Other: A001: certificate not registered for NL0123456789"
    assert EbmsError("EBMS:0004", sub_code="A003").error_detail.startswith("A003: Internal UUM&DS error")
    clone = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object
    assert (clone.code, clone.detail, clone.ref_to_message_id, clone.sub_code) == (
        "EBMS:0004",
        error.detail,
        "m@x",
        "A001",
    )


@pytest.mark.parametrize("code", ["EBMS:0012", "EBMS:9999", "nonsense"])
def test_unknown_codes_are_programming_errors(code: str) -> None:
    with pytest.raises(ValueError):
        EbmsError(code)
