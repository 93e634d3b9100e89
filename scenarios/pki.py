"""The test PKI as the harness sees it: the manifest written by `icssim certs init`.

Read from the files only (the harness may run against a remote simulator that shares the PKI
directory), so this does not import the generator.
"""

from __future__ import annotations

import json
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

    def trader(self, name: str) -> TraderFiles:
        try:
            return self.traders[name]
        except KeyError:
            raise KeyError(f"no trader {name!r} in the test PKI ({', '.join(self.traders)})") from None
