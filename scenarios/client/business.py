"""What a trader's package remembers of customs messages so that it reacts to them correctly."""

from __future__ import annotations

from dataclasses import dataclass, field

from simulator.codecs.xmlsafe import parse_xml


@dataclass
class BusinessMemory:
    """What a package must remember of customs messages to react correctly (domain/ics2.md "Messages"):
    the response method each open information request asks for (IE3Q02 responseMethod: "1" IE3R02, "2" an
    amendment) and the ENS under a Do Not Load (IE3Q01) until an amendment is accepted (IE3N10)."""

    information_requests: dict[str, str] = field(default_factory=dict)  # referral -> response method
    do_not_load: set[str] = field(default_factory=set)  # MRNs

    def learn(self, action: str, payload: bytes) -> None:
        if action not in ("IE3Q02", "IE3Q01", "IE3N10"):
            return
        root = parse_xml(payload)
        mrn = (root.findtext("MRN") or "").strip()
        if action == "IE3Q02":
            referral = next((el.text or "" for el in root.iter("referralRequestReference")), "").strip()
            method = next((el.text or "" for el in root.iter("responseMethod")), "1").strip()
            self.information_requests[referral] = method
        elif action == "IE3Q01":
            self.do_not_load.add(mrn)
        else:
            self.do_not_load.discard(mrn)
