"""The ICS2 ENS lifecycle: data/lifecycle.json run by the core engine, with the guards it names.

domain/ics2.md "ENS lifecycle" and "Messages". The states, steps, refusals and timers are data; this
module only supplies the guards and loads the definition. Entity id: the MRN of the ENS.

Events, what drives them and what answers them (refusals answer with `TransitionRefused.reply`, carrying
the CL723 `code` and the `rule`; "92" = out of sequence):

=====================  ==========================================  ==========================  =====================
event                  driven by                                   answer                      refused with
=====================  ==========================================  ==========================  =====================
register               IE3Fxx complete filing, validated           IE3R01 (MRN)                --
register_partial       IE3Fxx partial filing, linked ones missing  IE3R01; completion timer    --
reject                 IE3Fxx failing validation / non-unique LRN  IE3N99 / IE3N01             --
link_partial           IE3Fxx further partial filing (completes=)  IE3R01                      IE3N01 92
completion_timeout     timer `completion` (completion_timer_       IE3N02 + IE3N11             --
                       seconds, default 24 h, unverified)
request_information    risk analysis                               IE3Q02 (+ IE3N04 carrier)   --
answer_information     IE3R02                                      --                          IE3N01 92
request_screening      risk analysis (air)                         IE3Q03 (+ IE3N05 carrier)   --
answer_screening       IE3R03                                      --                          IE3N01 92
do_not_load            risk analysis                               IE3Q01 (filer and carrier)  --
complete_assessment    risk analysis                               IE3N03 if requested         --
notify_control         customs                                     IE3N08 / IE3N09             --
amend                  IE3Axx (party=)                             IE3N10                      IE3N01 92 / 12
invalidate             IE3Q04 (party=)                             IE3R07                      IE3N01 92 / 12
expire                 timer `automatic-invalidation` (200 days)   --                          --
arrive                 IE3N06 (all_goods=, default true)           IE3R04                      IE3N07
present                customs: goods presented at first entry     --                          --
=====================  ==========================================  ==========================  =====================

Context keys read by the guards: `completes` (link_partial: is the ENS now complete?), `all_goods`
(arrive), `party` (amend, invalidate: the sender's EORI or AS4 PartyId). Instance data given to
`start`: `declarant`, `representative` (EORIs). The fact `controls_notified` is set by notify_control.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from fnmatch import fnmatchcase
from functools import lru_cache
from importlib import resources

from simulator.core.lifecycle import Facts, Guard, Lifecycle, Machine

DEFINITION = "data/lifecycle.json"
MACHINE = "ics2-ens"


def completes_ens(facts: Facts) -> bool:
    """link_partial: the linked filing completes the ENS (domain/ics2.md 'ENS lifecycle', partial filings);
    the filing desk decides and says so in the context key `completes`."""
    return bool(facts.context["completes"])


def all_goods_arrived(facts: Facts) -> bool:
    """arrive: IE3N06 covers all goods of the ENS (-> arrived) or part of them (-> partially arrived)."""
    return bool(facts.context.get("all_goods", True))


def controls_notified(facts: Facts) -> bool:
    """amend: a control was notified (IE3N08/IE3N09), after which amendments are refused (IE3N01)."""
    return bool(facts.data.get("controls_notified", False))


def party_is_declarant_or_representative(facts: Facts) -> bool:
    """amend, invalidate: IE3N01 'amender is not declarant/representative' (domain/ics2.md 'Messages').

    The sender (context `party`: an EORI or an AS4 PartyId `[systemId@]EORI[@MS]`) must be the declarant
    or the representative of the filing concerned (context `allowed`, for an ENS of linked partial filings
    with several filers), else those recorded at start. Not checked (True) when either side is unknown, e.g. an
    event fired through the control API.
    """
    party = facts.context.get("party")
    given = facts.context.get("allowed")  # the declarant and representative of the filing amended (linked parts)
    allowed = set(given) if given else {facts.data.get("declarant"), facts.data.get("representative")}
    allowed -= {None, ""}
    return party is None or not allowed or bool(set(str(party).split("@")) & allowed)


GUARDS: Mapping[str, Guard] = {
    "completes_ens": completes_ens,
    "all_goods_arrived": all_goods_arrived,
    "controls_notified": controls_notified,
    "party_is_declarant_or_representative": party_is_declarant_or_representative,
}


def ens_machine(parameters: Mapping[str, float] | None = None) -> Machine:
    """The validated ENS machine. `parameters` override the JSON defaults (seconds):
    completion_timer_seconds (default 86400, unverified), automatic_invalidation_seconds (200 days)."""
    return _machine(tuple(sorted((parameters or {}).items())))


@lru_cache(maxsize=8)
def _machine(parameters: tuple[tuple[str, float], ...]) -> Machine:
    raw = json.loads(resources.files("simulator.ics2").joinpath(DEFINITION).read_text("utf-8"))
    return Machine.from_dict(raw, GUARDS, dict(parameters), source=f"simulator/ics2/{DEFINITION}")


def ens_lifecycle(parameters: Mapping[str, float] | None = None) -> Lifecycle:
    """The ENS lifecycle over the core lifecycle tables (build once per process, in the profile's init)."""
    return Lifecycle(ens_machine(parameters))


def event_for_message(message_id: str, machine: Machine | None = None) -> str | None:
    """The event a trader message drives, from the definition's `messages.in` ("xx" matches two characters):
    IE3A32 -> amend, IE3Q04 -> invalidate, IE3N06 -> arrive, IE3R02/IE3R03 -> answers. None for a filing
    (IE3Fxx: the filing desk chooses register, register_partial, reject or link_partial) or an unknown id."""
    machine = machine or ens_machine()
    claims = [name for name, spec in machine.events.items()
              if any(fnmatchcase(message_id, str(p).replace("xx", "??")) for p in spec.messages.get("in", ()))]
    return claims[0] if len(claims) == 1 else None
