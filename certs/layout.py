"""Files of the test PKI: the trader table, the manifest and the dataclasses that mirror it.

Split from certs/pki.py (the generator) so that readers of a generated PKI need no generator code.
Layout and conditions: certs/README.md.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

MANIFEST_VERSION = 1


class TraderSpec(NamedTuple):
    name: str
    eori: str
    condition: str  # the defect of its sealing certificate (certs/README.md)


TRADERS: tuple[TraderSpec, ...] = (
    TraderSpec("trader-a", "BE0123456789", "valid"),
    TraderSpec("trader-b", "NL123456789", "valid"),
    TraderSpec("expired", "FR12345678901", "expired"),
    TraderSpec("not-yet-valid", "DE123456789012345", "not-yet-valid"),
    TraderSpec("revoked", "IT01234567890", "revoked"),
    TraderSpec("untrusted", "ES12345678Z", "untrusted"),
    TraderSpec("wrong-key-usage", "PL1234567890", "wrong-key-usage"),
    TraderSpec("unregistered", "AT123456789", "unregistered"),
)


@dataclass(frozen=True)
class CaFiles:
    root_cert: Path
    root_key: Path
    issuing_cert: Path
    issuing_key: Path
    trust_bundle: Path  # the root only: what a vendor adds to its trust store
    chain: Path  # issuing + root
    crl: Path  # CRL of the issuing CA
    other_root_cert: Path
    other_root_key: Path


@dataclass(frozen=True)
class Credentials:
    """A certificate, its key and the chain to present (leaf first; may be the cert file itself)."""

    cert: Path
    key: Path
    chain: Path


@dataclass(frozen=True)
class TraderCredentials:
    name: str
    eori: str
    condition: str
    sealing_cert: Path
    sealing_key: Path
    sealing_chain: Path  # leaf first, up to and including the root
    tls_cert: Path  # leaf + issuing
    tls_key: Path
    ap_cert: Path  # TLS server certificate of the trader's own AS4 endpoint (push): leaf + issuing
    ap_key: Path


@dataclass(frozen=True)
class TestPki:
    """The generated PKI, mirroring manifest.json with absolute paths."""

    __test__ = False  # not a pytest test class despite its name

    directory: Path
    created: datetime
    ca: CaFiles
    server: Credentials  # TLS server: cert = chain = leaf + issuing
    simulator: Credentials  # AS4 sealing of receipts and c2t messages: chain leaf -> issuing -> root
    push_client: Credentials  # TLS client of push delivery to traders' endpoints: cert = chain = leaf + issuing
    traders: tuple[TraderCredentials, ...]
    # Signs the harness's evidence packs: cert = chain = leaf + issuing. None only in a PKI made before it
    # existed (`icssim certs init` adds it).
    harness: Credentials | None = None

    def trader(self, name: str) -> TraderCredentials:
        for trader in self.traders:
            if trader.name == name:
                return trader
        raise KeyError(f"no test trader named {name!r}; known: {[t.name for t in self.traders]}")


def load_certificates(path: Path) -> list[x509.Certificate]:
    """All certificates of a PEM file, in file order (leaf first for chain files)."""
    return x509.load_pem_x509_certificates(Path(path).read_bytes())


def load_private_key(path: Path, *, validate: bool = True) -> rsa.RSAPrivateKey:
    """An unencrypted PKCS#8 RSA key; ``validate=False`` skips the costly (~70 ms) RSA key check."""
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None,
                                             unsafe_skip_rsa_key_validation=not validate)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path}: not an RSA private key")
    return key


def _from_manifest(directory: Path, data: dict[str, Any]) -> TestPki:
    if data.get("version") != MANIFEST_VERSION:
        raise ValueError(f"{directory}/manifest.json: unsupported version {data.get('version')!r}")

    def build(cls: type[Any], entry: dict[str, str]) -> Any:
        # Field annotations are strings under `from __future__ import annotations`.
        return cls(**{field.name: directory / entry[field.name] if field.type == "Path" else entry[field.name]
                      for field in dataclasses.fields(cls)})

    try:
        return TestPki(directory=directory, created=datetime.fromisoformat(data["created"]),
                       ca=build(CaFiles, data["ca"]), server=build(Credentials, data["server"]),
                       simulator=build(Credentials, data["simulator"]),
                       push_client=build(Credentials, data["push_client"]),
                       traders=tuple(build(TraderCredentials, t) for t in data["traders"]),
                       harness=build(Credentials, data["harness"]) if "harness" in data else None)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{directory}/manifest.json: incomplete ({exc!r})") from exc


def load_test_pki(directory: Path) -> TestPki:
    """Read DIR/manifest.json; FileNotFoundError when there is none, ValueError when it is unusable."""
    directory = Path(directory).resolve()
    return _from_manifest(directory, json.loads((directory / "manifest.json").read_text()))
