"""The ICS2 message catalogue, loaded once from data/catalogue.json (domain/ics2.md "Messages")."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True)
class CatalogueEntry:
    message_id: str
    direction: str  # t2c | c2t
    kind: str
    release: str
    correlation: str  # LRN | MRN
    priority: str  # A | B | C
    schema: str
    agreements: tuple[str, ...]
    status: str
    mode: str = ""
    dataset: str = ""
    note: str = ""  # what could not be verified against the ICD

    @property
    def implemented(self) -> bool:
        return self.status == "implemented"


@lru_cache(maxsize=1)
def catalogue() -> dict[str, CatalogueEntry]:
    raw = json.loads(resources.files("simulator.ics2").joinpath("data/catalogue.json").read_text("utf-8"))
    out: dict[str, CatalogueEntry] = {}
    for message_id, item in raw["messages"].items():
        out[message_id] = CatalogueEntry(
            message_id=message_id,
            direction=item["direction"],
            kind=item["kind"],
            release=item["release"],
            correlation=item["correlation"],
            priority=item["priority"],
            schema=item["schema"],
            agreements=tuple(item["agreements"]),
            status=item["status"],
            mode=item.get("mode", ""),
            dataset=item.get("dataset", ""),
            note=item.get("note", ""),
        )
    return out


def entry(message_id: str) -> CatalogueEntry | None:
    return catalogue().get(message_id)
