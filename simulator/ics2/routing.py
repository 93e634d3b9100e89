"""Where a customs-to-trader message goes: ICD v3.30 §3.3.2.3 "Response and notification routing".

The ICD applies three rules in order of priority to every reply and notification about an ENS:

(a) Rule 1 — the initial reply to an ENS filing or arrival notification "will be addressed to the access
    point used by the person that submitted" it, "following the channel of reception of the initial
    submission". The same holds for the single reply to an amendment, an invalidation request and a
    consultation (ICD §3.1.3, §3.1.4, §3.1.9). Destination: the sender's own AS4 PartyId.
(b) Rule 2 — a message "having an MRN as subject", addressed to the person that obtained that MRN, goes
    "to the access point used by this person for that previous filing, following the channel of the
    message attributing the MRN". Destination: the PartyId that filed the ENS (ICD §4.4.1: the TI keeps
    eb:From/eb:PartyId per LRN/MRN to address functional replies).
(c) Rule 3 — a message about an MRN addressed to an EO other than the person filing (a carrier's copy,
    IE3N04/IE3N05, IE3N11 to a person not yet filed) is sent to the access point registered in that EO's
    recorded preference; without one "he is considered as not connected to the system and hence the
    notification is not sent". Some of these messages are also sent only "when it has requested to be
    informed" (Annex 1): for those the message id must be in the profile's `wants` (ICD §5.3). A copy
    to the person filing itself is not sent (Annex 1: "when ... different from the Person filing").

"Channel" in the ICD means NTI, STI or UI; this simulator plays the STI only, so what remains to choose
is the c2t MEP the trader declared for the eu_ics2_c2t service (ICD §4.1.3: "configured One Way/Push or
One-Way/Pull"). Every filing reaches the STI by push, so "the channel of reception" cannot tell push
from pull: the party's recorded profile decides — push to its access point URL if it says push, else its
pull MPC (ICD §4.3.3), which is also the default for a party with no profile (ICD §5.1.1: no URL is
needed for pull).

Which message follows which rule is data: data/routing.json (loaded once).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from sqlalchemy.engine import Connection

from simulator.ics2.parties import PartyProfile, PartyProfiles, c2t_message_ids
from simulator.ics2.pmode import c2t_mpc, party_eori

RULES = ("a", "b", "c")
PUSH_QUEUE_PREFIX = "push:"


@dataclass(frozen=True)
class Destination:
    """Send to this party by this channel; `queue` is the outbox queue (pull: the party's MPC)."""

    party_id: str
    channel: str  # pull | push
    queue: str
    ap_url: str | None
    rule: str = ""  # a | b | c (ICD §3.3.2.3 rule 1 | 2 | 3)


@dataclass(frozen=True)
class Skipped:
    """Not sent, and why (ICD §3.3.2.3 rule 3: not connected, or not asked for)."""

    party_id: str
    reason: str
    rule: str = "c"


@dataclass(frozen=True)
class ActionRouting:
    action: str
    rule: str
    icd: str
    opt_in: bool  # rule c: the message id must be in the party's `wants`
    copy_opt_in: bool  # a copy of this message to another party: must it be in that party's `wants`?


@lru_cache(maxsize=1)
def routing_table() -> dict[str, ActionRouting]:
    """data/routing.json, checked once: known rule letters, customs-to-trader message ids only."""
    raw = json.loads(resources.files("simulator.ics2").joinpath("data/routing.json").read_text("utf-8"))
    known = c2t_message_ids()
    table: dict[str, ActionRouting] = {}
    for action, item in raw["actions"].items():
        if item["rule"] not in RULES or action not in known:
            raise ValueError(f"data/routing.json: bad entry {action!r}: {item!r}")
        copy = item.get("copy", {})
        table[action] = ActionRouting(action, item["rule"], item["icd"], bool(item.get("opt_in", True)),
                                      bool(copy.get("opt_in", True)))
    return table


def _destination(profile: PartyProfile, party_id: str, rule: str) -> Destination:
    if profile.channel == "push":
        return Destination(party_id, "push", PUSH_QUEUE_PREFIX + party_id, profile.ap_url, rule)
    return Destination(party_id, "pull", c2t_mpc(party_id), None, rule)


def _same_person(recipient: str, filer: str) -> bool:
    """The recipient is the person filing: the same EORI (a PartyId may add a system id and a Member
    State to it, ICD §4.2.2.1, but the person is the EORI)."""
    return party_eori(recipient) == party_eori(filer)


def route(conn: Connection, profiles: PartyProfiles, *, action: str, recipient: str, filer: str,
          initial_reply: bool, copy: bool = False) -> Destination | Skipped:
    """Decide where one c2t message goes (ICD §3.3.2.3; rules in the module docstring).

    `recipient`: the PartyId or EORI the message is for (for rule (a) the request's sender);
    `filer`: the PartyId that filed the ENS. `initial_reply` forces rule (a); `copy` forces rule (c)
    (e.g. the IE3Q01 or IE3R01 copy to the carrier). Otherwise the action's rule from data/routing.json
    applies, with rule (b) falling to (c) when the recipient is not the person filing (the ICD applies
    the rules "by order of priority"). One indexed query (the profile of the party addressed).
    """
    entry = routing_table().get(action)
    if entry is None:
        raise ValueError(f"no routing rule for {action!r} (data/routing.json)")
    if party_eori(recipient) is None:
        return Skipped(recipient, f"{recipient!r} is not an AS4 PartyId or EORI: nowhere to send {action}")
    if copy:
        rule, opt_in = "c", entry.copy_opt_in
    elif initial_reply or entry.rule == "a":
        rule, opt_in = "a", False
    elif entry.rule == "b" and _same_person(recipient, filer):
        rule, opt_in = "b", False
    else:  # a rule-(c) message, or a rule-(b) one addressed to another party: routed as its copy
        rule, opt_in = "c", entry.opt_in if entry.rule == "c" else entry.copy_opt_in
    if rule == "a":
        # The sender's own access point; a bare EORI is addressed by the PartyId its profile records
        # (ICD §4.4.1), or as itself when nobody recorded one.
        profile = profiles.get(conn, recipient)
        return _destination(profile, profile.party_id, rule)
    if rule == "b":
        # The access point the person used for the filing that obtained the MRN (ICD §4.4.1).
        profile = profiles.get(conn, filer)
        return _destination(profile, profile.party_id, rule)
    if _same_person(recipient, filer):
        return Skipped(recipient, f"{action} not sent to {recipient} as another party: it is the person filing, "
                                  "which gets its own messages (ICD Annex 1: copies go to a carrier different "
                                  "from the person filing)")
    profile = profiles.get(conn, recipient)
    if not profile.recorded:
        return Skipped(recipient, f"{action} not sent: {recipient} recorded no preference, so it is not "
                                  "connected to the TI (ICD §3.3.2.3 rule 3)")
    if opt_in and action not in profile.wants:
        return Skipped(profile.party_id, f"{action} not sent: {profile.party_id} did not ask to receive it "
                                         "(ICD §5.3 notification preferences; Annex 1)")
    return _destination(profile, profile.party_id, rule)
