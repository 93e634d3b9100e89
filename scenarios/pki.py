"""The test PKI as the harness sees it: the manifest written by `icssim certs init`, and the party.json of
an identity of the package's own (`icssim certs issue`), which acts in place of the sample trader it names.

Read from the files only (the harness may run against a remote simulator that shares the PKI
directory), so this does not import the generator.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TraderFiles:
    name: str
    eori: str
    condition: str
    sealing_cert: Path
    sealing_key: Path
    sealing_chain: Path
    tls_cert: Path
    tls_key: Path
    ap_cert: Path | None = None  # server certificate of the trader's own AS4 endpoint (push delivery)
    ap_key: Path | None = None


@dataclass(frozen=True)
class PkiFiles:
    directory: Path
    trust_bundle: Path
    traders: dict[str, TraderFiles]

    @classmethod
    def load(cls, directory: Path) -> PkiFiles:
        manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
        traders = {}
        for item in manifest["traders"]:
            traders[item["name"]] = TraderFiles(
                item["name"], item["eori"], item["condition"],
                *(directory / item[key] for key in ("sealing_cert", "sealing_key", "sealing_chain",
                                                     "tls_cert", "tls_key")),
                *(directory / item[key] if item.get(key) else None for key in ("ap_cert", "ap_key")),
            )
        return cls(directory, directory / "ca" / "trust-bundle.pem", traders)

    def with_parties(self, directories: Sequence[Path]) -> PkiFiles:
        """This PKI, with each party of ``directories`` (written by `icssim certs issue`, described by its
        party.json) acting under its own EORI and certificates in place of the trader of that name."""
        traders = dict(self.traders)
        for directory in directories:
            party = read_party(Path(directory))
            traders[party.name] = party
        return PkiFiles(self.directory, self.trust_bundle, traders)

    def trader(self, name: str) -> TraderFiles:
        try:
            return self.traders[name]
        except KeyError:
            raise KeyError(f"no trader {name!r} in the test PKI ({', '.join(self.traders)})") from None


PARTY_FORMAT = "icssim-party/1"
_PARTY_FILES = ("sealing_cert", "sealing_key", "sealing_chain", "tls_cert", "tls_key")


def read_party(directory: Path) -> TraderFiles:
    """The identity in ``directory``/party.json; ValueError naming what is missing or wrong."""
    path = directory / "party.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a party made by `icssim certs issue` ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != PARTY_FORMAT:
        raise ValueError(f"{path}: expected format {PARTY_FORMAT!r}")
    files = data.get("files") or {}
    missing = [key for key in _PARTY_FILES if not files.get(key) or not (directory / files[key]).is_file()]
    if missing or not data.get("name") or not data.get("eori"):
        raise ValueError(f"{path}: incomplete (missing {missing or 'name/eori'}): issue it with --purpose both")
    extra = [directory / files[key] if files.get(key) else None for key in ("ap_cert", "ap_key")]
    return TraderFiles(str(data["name"]), str(data["eori"]), "valid",
                       *(directory / files[key] for key in _PARTY_FILES), *extra)
