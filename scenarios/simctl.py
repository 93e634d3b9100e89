"""Client of the simulator's control/journal API (`/_sim`), over HTTP only.

The harness never reaches into the running app (DESIGN.md, imports: scenarios -> simulator.codecs
only), so everything it sets up or observes goes through here and works against a remote simulator.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Fetch = Callable[[int, int, bool], list[dict[str, Any]]]  # (since_id, limit, raw) -> entries in id order


@dataclass
class JournalCursor:
    """Where the journal ends now, read on from the last entry seen. A scene reset wipes the journal and
    ids may start again from 1, so a mark is (id, real_at) of the newest entry: if that entry is gone or
    changed, the journal was reset since and reading starts from its beginning."""

    fetch: Fetch
    page: int = 500
    last: tuple[int, float] = (0, 0.0)

    def still_there(self, mark: tuple[int, float]) -> bool:
        if mark[0] == 0:
            return True
        probe = self.fetch(mark[0] - 1, 1, False)
        return bool(probe) and probe[0].get("id") == mark[0] and probe[0].get("real_at") == mark[1]

    def read(self, since: int, raw: bool) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        while True:
            batch = self.fetch(since, self.page, raw)
            entries += batch
            if len(batch) < self.page:
                return entries
            since = int(batch[-1]["id"])

    def mark(self) -> tuple[int, float]:
        """(id, real_at) of the newest entry now ((0, 0.0) for an empty journal)."""
        start = self.last if self.still_there(self.last) else (0, 0.0)
        newer = self.read(start[0], False)
        self.last = (int(newer[-1]["id"]), float(newer[-1]["real_at"])) if newer else start
        return self.last


class ControlError(RuntimeError):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"control API answered {status}: {detail}")
        self.status = status
        self.detail = detail


@dataclass
class SimControl:
    url: str  # e.g. http://127.0.0.1:8480
    token: str
    timeout: float = 30.0

    @classmethod
    def from_var(cls, url: str, var_dir: Path) -> SimControl:
        return cls(url, (var_dir / "control-token").read_text(encoding="utf-8").strip())

    # -- plumbing ------------------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: dict[str, Any] | None = None,
              query: dict[str, Any] | None = None) -> Any:
        url = self.url.rstrip("/") + "/_sim" + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (configured URL)
        request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                raw = response.read()
                if response.headers.get_content_type() == "application/json":
                    return json.loads(raw)
                return raw
        except urllib.error.HTTPError as exc:
            text = exc.read().decode("utf-8", "replace")
            try:
                detail = json.loads(text).get("detail", text)
            except ValueError:
                detail = text
            raise ControlError(exc.code, str(detail)) from None

    # -- scene ----------------------------------------------------------------------------------------
    def health(self) -> bool:
        try:
            return bool(self._call("GET", "/health").get("status") == "ok")
        except (OSError, ControlError):
            return False

    def reset(self, *, parties: bool = False) -> dict[str, Any]:
        return dict(self._call("POST", "/reset", {"parties": parties}))

    def clock(self) -> dict[str, Any]:
        return dict(self._call("GET", "/clock"))

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        return dict(self._call("POST", "/clock/advance", {"seconds": seconds}))

    def register(self, party: str, certificate_pem: str, *, purpose: str = "sealing",
                 profile: str = "ics2", name: str | None = None) -> dict[str, Any]:
        return dict(self._call("POST", f"/{profile}/parties",
                               {"party": party, "certificate": certificate_pem, "purpose": purpose,
                                "name": name}))

    def revoke(self, party: str, *, sha256: str | None = None, certificate_pem: str | None = None,
               purpose: str | None = None, profile: str = "ics2") -> dict[str, Any]:
        return dict(self._call("POST", f"/{profile}/parties/{urllib.parse.quote(party)}/revoke",
                               {"sha256": sha256, "certificate": certificate_pem, "purpose": purpose}))

    def parties(self, profile: str = "ics2") -> list[dict[str, Any]]:
        return list(self._call("GET", f"/{profile}/parties")["parties"])

    # -- observation ---------------------------------------------------------------------------------
    def journal(self, *, raw: bool = False, **filters: Any) -> list[dict[str, Any]]:
        query = {**filters, "raw": "1" if raw else None}
        return list(self._call("GET", "/journal", query=query)["entries"])

    def journal_cursor(self) -> JournalCursor:
        """A cursor over this simulator's journal, paging as far as the API allows."""
        return JournalCursor(lambda since, limit, raw: self.journal(since_id=since, limit=limit, raw=raw), page=5000)

    def journal_raw(self, entry_id: int) -> bytes:
        return bytes(self._call("GET", f"/journal/{entry_id}/raw"))

    def outbox(self, queue: str | None = None) -> list[dict[str, Any]]:
        return list(self._call("GET", "/outbox", query={"queue": queue})["messages"])

    def ics2_ens(self, **filters: Any) -> list[dict[str, Any]]:
        return list(self._call("GET", "/ics2/ens", query=filters)["ens"])

    def journal_stats(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/journal/stats")["counts"])

    def ics2_ens_stats(self) -> dict[str, int]:
        return dict(self._call("GET", "/ics2/ens/stats")["states"])

    def ics2_fire(self, mrn: str, event: str, **context: Any) -> dict[str, Any]:
        """Move one ENS through its lifecycle as customs would (arrival, presentation, ...)."""
        return dict(self._call("POST", f"/ics2/ens/{urllib.parse.quote(mrn)}/events",
                               {"event": event, **context}))

    # -- ICS2 party profiles and representations (ICD §5.1.1, §5.3; routing ICD §3.3.2.3) --------------
    def ics2_set_profile(self, party_id: str, *, roles: list[str] | None = None, channel: str = "pull",
                         ap_url: str | None = None, wants: list[str] | None = None) -> dict[str, Any]:
        """Record a party's c2t channel (pull | push to ap_url) and the optional messages it wants."""
        return dict(self._call("PUT", f"/ics2/parties/{urllib.parse.quote(party_id)}/profile",
                               {"roles": roles or [], "channel": channel, "ap_url": ap_url,
                                "wants": wants or []}))

    def ics2_profile(self, party_id: str) -> dict[str, Any]:
        """The profile that applies to a party ("recorded": false = the default: pull, nothing optional)."""
        return dict(self._call("GET", f"/ics2/parties/{urllib.parse.quote(party_id)}/profile"))

    def ics2_profiles(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/ics2/profiles")["profiles"])

    def ics2_add_representation(self, representative: str, declarant: str) -> dict[str, Any]:
        return dict(self._call("POST", "/ics2/representations",
                               {"representative": representative, "declarant": declarant}))

    def ics2_remove_representation(self, representative: str, declarant: str) -> bool:
        """End a representation; False when none was recorded."""
        try:
            self._call("DELETE", "/ics2/representations",
                       query={"representative": representative, "declarant": declarant})
        except ControlError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def ics2_representations(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/ics2/representations")["representations"])

    # -- ICS2 risk outcomes (forced per LRN or MRN; domain/ics2.md "UK neighbour worth learning from") -------
    def ics2_force_outcomes(self, outcomes: list[dict[str, Any]], *, lrn: str | None = None,
                            mrn: str | None = None) -> dict[str, Any]:
        """Force the risk outcomes of one ENS, e.g. [{"outcome": "rfi", "delay_seconds": 0, "details": {}}];
        with the MRN of a registered ENS they are scheduled at once ("scheduled" lists the timers)."""
        key = {"lrn": lrn} if lrn is not None else {"mrn": mrn}
        return dict(self._call("POST", "/ics2/outcomes", {**key, "outcomes": outcomes}))

    def ics2_forced_outcomes(self, *, lrn: str | None = None, mrn: str | None = None) -> list[dict[str, Any]]:
        return list(self._call("GET", "/ics2/outcomes", query={"lrn": lrn, "mrn": mrn})["outcomes"])

    def ics2_clear_outcomes(self, *, lrn: str | None = None, mrn: str | None = None) -> int:
        """Forget the forced outcomes of one LRN or MRN; returns how many plans were dropped."""
        return int(self._call("DELETE", "/ics2/outcomes", query={"lrn": lrn, "mrn": mrn})["deleted"])

    def ics2_risk_rules(self) -> dict[str, Any]:
        """The risk rule table as loaded (rules in order, outcome catalogue, default, screening scope)."""
        return dict(self._call("GET", "/ics2/risk/rules"))

    def ics2_history(self, mrn: str) -> dict[str, Any]:
        """State, steps (with rules), armed timers and referrals of the ENS an MRN belongs to."""
        return dict(self._call("GET", f"/ics2/ens/{mrn}/history"))

    def add_fault(self, kind: str, *, profile: str = "ics2", **spec: Any) -> dict[str, Any]:
        """Inject a fault (simulator/core/faults.py: delay_reply, drop_receipt, duplicate_delivery,
        msh_unavailable) for the scene."""
        return dict(self._call("POST", f"/{profile}/faults", {"kind": kind, **spec}))

    def faults(self, *, profile: str = "ics2") -> list[dict[str, Any]]:
        return list(self._call("GET", f"/{profile}/faults")["faults"])

    def clear_faults(self, *, profile: str = "ics2") -> int:
        return int(self._call("DELETE", f"/{profile}/faults")["removed"])

    # -- the manual driver's instruction board (simulator/portal, the page at /_sim/manual) -------------
    def manual_show(self, instruction: dict[str, Any]) -> dict[str, Any]:
        """Put up the step a person is to perform (id, step, title, text, action, party, eori, expects,
        awaiting, data, started_at, deadline_at); returns the board's state."""
        return dict(self._call("PUT", "/manual/instruction", instruction))

    def manual_state(self) -> dict[str, Any]:
        """The board: "instruction" (or None), the person's "answer" (or None), "seconds_left", "history"."""
        return dict(self._call("GET", "/manual/instruction"))

    def manual_clear(self, instruction_id: str, *, result: str | None = None, ok: bool | None = None) -> bool:
        """Take the step down, with its result for the page's history; False when it was not shown."""
        flag = None if ok is None else ("1" if ok else "0")
        shown = None if result is None else result[:2000]  # the board keeps a line, not a report
        return bool(self._call("DELETE", "/manual/instruction",
                               query={"id": instruction_id, "result": shown, "ok": flag})["cleared"])

    def wait_for(self, probe: Callable[[], Any], *, timeout: float = 10.0, what: str = "condition") -> Any:
        """Poll the journal-backed `probe` until it returns something truthy (no fixed sleeps)."""
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            found = probe()
            if found:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
