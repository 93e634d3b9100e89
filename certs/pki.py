"""Test PKI of the simulator: root and issuing CA, an unrelated root, the simulator's own credentials
and one trader per certificate condition (domain/ics2.md "AS4 profile", "Transport"; ICD §4.3).

For push delivery of customs-to-trader messages (domain/ics2.md "AS4 profile": a trader may run its own
AS4 endpoint) the simulator has a TLS client certificate and every trader an AP server certificate. The
conformance harness signs its evidence packs with a certificate of its own (scenarios/evidence.py).

Every trader's TLS client certificate is valid; only its AS4 sealing certificate carries the condition,
so the AS4 layer (not the TLS handshake) reports it. Layout, conditions, regeneration: certs/README.md.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, NamedTuple

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from certs.layout import (
    MANIFEST_VERSION,
    TRADERS,
    CaFiles,
    Credentials,
    TestPki,
    TraderCredentials,
    TraderSpec,
    _from_manifest,
    load_certificates,
    load_private_key,
    load_test_pki,
)

# The generator's public face: the layout types are re-exported for callers of certs.pki.
__all__ = [
    "TRADERS",
    "CaFiles",
    "Credentials",
    "TestPki",
    "TraderCredentials",
    "TraderSpec",
    "init_test_pki",
    "issue_party_certificate",
    "load_certificates",
    "load_private_key",
    "load_test_pki",
]

CA_KEY_BITS = 3072
LEAF_KEY_BITS = 2048  # leaves sign every AS4 message: signing speed matters
ORGANISATION = "ICS Conformance Simulator (test only)"
ROOT_CA_NAME = "ICSSIM Test Root CA"
ISSUING_CA_NAME = "ICSSIM Test Issuing CA"
OTHER_ROOT_NAME = "ICSSIM Unrelated Root CA"

ROOT_LIFETIME = timedelta(days=20 * 365)
ISSUING_LIFETIME = timedelta(days=10 * 365)
LEAF_LIFETIME = timedelta(days=2 * 365)
CA_BACKDATE = timedelta(days=400)  # CAs predate the `expired` trader's certificate
CLOCK_SKEW = timedelta(days=1)
RENEW_MARGIN = timedelta(days=30)  # a valid certificate closer than this to expiry is re-issued
NOT_YET_VALID_DELAY = timedelta(days=30)
NOT_YET_VALID_MARGIN = timedelta(days=7)  # re-issue `not-yet-valid` before it becomes valid
CRL_LIFETIME = timedelta(days=30)

Purpose = Literal["sealing", "tls-client", "ap-server"]
_Validity = Literal["current", "expired", "future", "ca"]
_SEALING_VALIDITY: dict[str, _Validity] = {"expired": "expired", "not-yet-valid": "future"}
_EORI = re.compile(r"^[A-Z]{2}[A-Za-z0-9]{1,15}$")
# id-kp-documentSigning (RFC 9336): what the evidence certificate may sign. It keeps a trader's sealing
# certificate (same key usage, no EKU) from passing as the harness's evidence signer.
DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")


class _Issued(NamedTuple):
    cert: x509.Certificate
    key: rsa.RSAPrivateKey
    path: tuple[x509.Certificate, ...]  # this certificate, then its issuers up to the root


def _name(common_name: str, *, organisation: str = ORGANISATION, serial: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
                  x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    extra = [x509.NameAttribute(NameOID.SERIAL_NUMBER, serial)] if serial else []
    return x509.Name(attributes + extra)


def _party_name(name: str, eori: str, purpose: Purpose) -> x509.Name:
    """O=<name>, CN=<EORI> sealing|tls|ap, serialNumber=<EORI> (the binding is by registration anyway)."""
    suffix = {"sealing": "sealing", "tls-client": "tls", "ap-server": "ap"}[purpose]
    return _name(f"{eori} {suffix}", organisation=name, serial=eori)


def _key_usage(*, sign: bool = False, commit: bool = False, encipher: bool = False, ca: bool = False
               ) -> x509.KeyUsage:
    return x509.KeyUsage(sign, commit, encipher, False, False, ca, ca, False, False)


_Extensions = list[tuple[x509.ExtensionType, bool]]


def _ca_extensions(path_length: int | None) -> _Extensions:
    return [(x509.BasicConstraints(ca=True, path_length=path_length), True), (_key_usage(ca=True), True)]


def _leaf_extensions(purpose: Purpose | Literal["tls-server", "evidence"], *, wrong_key_usage: bool = False
                     ) -> _Extensions:
    extensions: _Extensions = [(x509.BasicConstraints(ca=False, path_length=None), True)]
    if purpose == "evidence":
        return [*extensions, (_key_usage(sign=True, commit=True), True),
                (x509.ExtendedKeyUsage([DOCUMENT_SIGNING]), False)]
    if purpose == "sealing":
        usage = _key_usage(encipher=True) if wrong_key_usage else _key_usage(sign=True, commit=True)
        return [*extensions, (usage, True)]
    extensions.append((_key_usage(sign=True, encipher=True), True))
    if purpose == "tls-client":
        return [*extensions, (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)]
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
             x509.IPAddress(ipaddress.ip_address("::1"))]
    return [*extensions, (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
            (x509.SubjectAlternativeName(names), False)]


def _window(validity: _Validity, now: datetime, lifetime: timedelta) -> tuple[datetime, datetime]:
    if validity == "expired":
        return now - timedelta(days=395), now - timedelta(days=30)
    if validity == "future":
        return now + NOT_YET_VALID_DELAY, now + NOT_YET_VALID_DELAY + lifetime
    if validity == "ca":
        return now - CA_BACKDATE, now + lifetime
    return now - CLOCK_SKEW, now + lifetime


def _utc(moment: datetime | None) -> datetime:
    """``None`` = the wall clock; a naive datetime is taken as UTC."""
    moment = moment or datetime.now(UTC)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _pem(*certs: x509.Certificate) -> bytes:
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs)


class _Builder:
    """Writes files only when their bytes change; re-issues only what is missing or unfit."""

    def __init__(self, directory: Path, now: datetime, force: bool) -> None:
        self.directory, self.now, self.force, self.changed = directory, now, force, False

    def write(self, rel: str, data: bytes, *, private: bool = False) -> None:
        path, mode = self.directory / rel, 0o600 if private else 0o644
        if path.exists() and path.read_bytes() == data:
            if private and path.stat().st_mode & 0o777 != mode:
                path.chmod(mode)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        self.changed = True

    def ensure(self, cert_rel: str, key_rel: str, *, subject: x509.Name, issuer: _Issued | None,
               extensions: _Extensions, validity: _Validity = "current",
               lifetime: timedelta = LEAF_LIFETIME, bits: int = LEAF_KEY_BITS, bundle: int = 1) -> _Issued:
        """A certificate with its key; ``bundle`` = how many certificates of its path the file holds."""
        issued = None if self.force else self._load(cert_rel, key_rel, issuer)
        if issued is None or not self._fit(issued.cert, subject, issuer, extensions, validity):
            key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
            signing_key = key if issuer is None else issuer.key
            not_before, not_after = _window(validity, self.now, lifetime)
            builder = (
                x509.CertificateBuilder().subject_name(subject).public_key(key.public_key())
                .issuer_name(subject if issuer is None else issuer.cert.subject)
                .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()),
                               critical=False))
            for value, critical in extensions:
                builder = builder.add_extension(value, critical=critical)
            cert = builder.sign(signing_key, hashes.SHA256())
            issued = _Issued(cert, key, (cert, *(issuer.path if issuer else ())))
            pkcs8 = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
            self.write(key_rel, pkcs8, private=True)
        self.write(cert_rel, _pem(*issued.path[:bundle]))
        return issued

    def _load(self, cert_rel: str, key_rel: str, issuer: _Issued | None) -> _Issued | None:
        try:
            cert = load_certificates(self.directory / cert_rel)[0]
            key = load_private_key(self.directory / key_rel, validate=False)  # matched to the cert below
        except (OSError, ValueError, IndexError):
            return None
        ok = cert.public_key() == key.public_key()
        return _Issued(cert, key, (cert, *(issuer.path if issuer else ()))) if ok else None

    def _fit(self, cert: x509.Certificate, subject: x509.Name, issuer: _Issued | None,
             extensions: _Extensions, validity: _Validity) -> bool:
        try:
            cert.verify_directly_issued_by(cert if issuer is None else issuer.cert)
            for value, critical in extensions:
                present = cert.extensions.get_extension_for_class(type(value))
                if present.value != value or present.critical != critical:
                    return False
        except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
            return False
        not_before, not_after, now = cert.not_valid_before_utc, cert.not_valid_after_utc, self.now
        fit = {"expired": not_after < now, "future": not_before - now > NOT_YET_VALID_MARGIN}.get(
            validity, not_before <= now and not_after - now > RENEW_MARGIN)  # "current", "ca"
        return fit and cert.subject == subject

    def ensure_crl(self, rel: str, issuer: _Issued, revoked: Sequence[x509.Certificate]) -> None:
        """CRL of ``issuer``; re-issued when older than half its lifetime (RFC 5280 §5)."""
        serials = {cert.serial_number for cert in revoked}
        try:
            crl = None if self.force else x509.load_pem_x509_crl((self.directory / rel).read_bytes())
        except (OSError, ValueError):
            crl = None
        if crl is not None and crl.issuer == issuer.cert.subject \
                and crl.is_signature_valid(issuer.key.public_key()) \
                and {entry.serial_number for entry in crl} == serials \
                and timedelta(0) <= self.now - crl.last_update_utc < CRL_LIFETIME / 2:
            return
        this_update = self.now - timedelta(hours=1)
        builder = (
            x509.CertificateRevocationListBuilder().issuer_name(issuer.cert.subject)
            .last_update(this_update).next_update(this_update + CRL_LIFETIME)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), False)
            .add_extension(x509.CRLNumber(int(this_update.timestamp())), False))
        for cert in revoked:
            # Stable revocation date across re-issues: one hour after the certificate starts.
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(cert.serial_number)
                .revocation_date(cert.not_valid_before_utc + timedelta(hours=1))
                .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), False).build())
        crl = builder.sign(issuer.key, hashes.SHA256())
        self.write(rel, crl.public_bytes(serialization.Encoding.PEM))


_LAYOUT: dict[str, dict[str, str]] = {  # manifest.json keys -> paths relative to the PKI folder
    "ca": {"root_cert": "ca/root.pem", "root_key": "ca/root.key", "issuing_cert": "ca/issuing.pem",
           "issuing_key": "ca/issuing.key", "trust_bundle": "ca/trust-bundle.pem", "chain": "ca/chain.pem",
           "crl": "ca/crl.pem", "other_root_cert": "ca/other-root.pem",
           "other_root_key": "ca/other-root.key"},
    "server": {"cert": "server/tls.pem", "key": "server/tls.key", "chain": "server/tls.pem"},
    "simulator": {"cert": "simulator/sealing.pem", "key": "simulator/sealing.key",
                  "chain": "simulator/sealing-chain.pem"},
    "push_client": {"cert": "server/push-client.pem", "key": "server/push-client.key",
                    "chain": "server/push-client.pem"},
    "harness": {"cert": "harness/evidence.pem", "key": "harness/evidence.key", "chain": "harness/evidence.pem"},
}
PARTY_FORMAT = "icssim-party/1"
_TRADER_LAYOUT = {"sealing_cert": "sealing.pem", "sealing_key": "sealing.key",
                  "sealing_chain": "sealing-chain.pem", "tls_cert": "tls.pem", "tls_key": "tls.key",
                  "ap_cert": "ap.pem", "ap_key": "ap.key"}


def init_test_pki(directory: Path, *, now: datetime | None = None, force: bool = False) -> TestPki:
    """Create (or complete, or refresh) the test PKI in ``directory`` and return it.

    Idempotent: the files of a complete, still-fit PKI are left byte for byte. A certificate is
    re-issued only when missing, unreadable, not issued by its (current) issuer, not matching its
    profile or out of its intended validity (which re-issues what it signed, too); the CRL when
    older than half its lifetime. ``force`` regenerates everything.
    """
    now, directory = _utc(now), Path(directory).resolve()
    b = _Builder(directory, now, force)
    ca, server, sim, push = _LAYOUT["ca"], _LAYOUT["server"], _LAYOUT["simulator"], _LAYOUT["push_client"]
    harness = _LAYOUT["harness"]
    as_ca: dict[str, Any] = {"validity": "ca", "bits": CA_KEY_BITS}
    root = b.ensure(ca["root_cert"], ca["root_key"], subject=_name(ROOT_CA_NAME), issuer=None,
                    extensions=_ca_extensions(1), lifetime=ROOT_LIFETIME, **as_ca)
    issuing = b.ensure(ca["issuing_cert"], ca["issuing_key"], subject=_name(ISSUING_CA_NAME), issuer=root,
                       extensions=_ca_extensions(0), lifetime=ISSUING_LIFETIME, **as_ca)
    other = b.ensure(ca["other_root_cert"], ca["other_root_key"], subject=_name(OTHER_ROOT_NAME), issuer=None,
                     extensions=_ca_extensions(1), lifetime=ROOT_LIFETIME, **as_ca)
    b.write(ca["trust_bundle"], _pem(root.cert))
    b.write(ca["chain"], _pem(*issuing.path))
    b.ensure(server["cert"], server["key"], subject=_name("localhost"), issuer=issuing,
             extensions=_leaf_extensions("tls-server"), bundle=2)
    sealing = b.ensure(sim["cert"], sim["key"], subject=_name("ICSSIM simulator sealing"), issuer=issuing,
                       extensions=_leaf_extensions("sealing"))
    b.write(sim["chain"], _pem(*sealing.path))
    # The simulator as TLS client of a trader's own AS4 endpoint (push delivery).
    b.ensure(push["cert"], push["key"], subject=_name("ICSSIM simulator push client"), issuer=issuing,
             extensions=_leaf_extensions("tls-client"), bundle=2)
    # The conformance harness signs evidence packs (scenarios/evidence.py); leaf + issuing, like TLS files.
    b.ensure(harness["cert"], harness["key"], subject=_name("ICSSIM conformance harness evidence"),
             issuer=issuing, extensions=_leaf_extensions("evidence"), bundle=2)
    revoked = [_issue_party(b, f"traders/{spec.name}", spec, issuing, other) for spec in TRADERS]
    b.ensure_crl(ca["crl"], issuing, [cert for spec, cert in zip(TRADERS, revoked, strict=True)
                                      if spec.condition == "revoked" and cert is not None])
    manifest = {"version": MANIFEST_VERSION, "created": now.isoformat(), **_LAYOUT, "traders": [
        {**spec._asdict(), **{key: f"traders/{spec.name}/{file}" for key, file in _TRADER_LAYOUT.items()}}
        for spec in TRADERS]}
    if not b.changed:  # keep the original creation time so that an unchanged PKI stays byte-identical
        try:
            previous = json.loads((directory / "manifest.json").read_text())
        except (OSError, ValueError):
            previous = None
        if isinstance(previous, dict) and {**previous, "created": manifest["created"]} == manifest:
            manifest = previous
    b.write("manifest.json", json.dumps(manifest, indent=2).encode() + b"\n")
    return _from_manifest(directory, manifest)


def _issue_party(b: _Builder, folder: str, spec: TraderSpec, issuing: _Issued, other: _Issued | None,
                 purposes: Sequence[Purpose] = ("sealing", "tls-client", "ap-server")) -> x509.Certificate | None:
    """A party's valid tls.pem/.key, its valid AP server ap.pem/.key and its sealing.pem/.key/-chain.pem
    carrying ``spec.condition`` (in ``folder``); returns the sealing certificate."""
    name, eori, condition = spec
    if "tls-client" in purposes:
        b.ensure(f"{folder}/tls.pem", f"{folder}/tls.key", issuer=issuing, bundle=2,
                 subject=_party_name(name, eori, "tls-client"), extensions=_leaf_extensions("tls-client"))
    if "ap-server" in purposes:  # the trader's own AS4 endpoint, served with TLS for push delivery
        b.ensure(f"{folder}/ap.pem", f"{folder}/ap.key", issuer=issuing, bundle=2,
                 subject=_party_name(name, eori, "ap-server"), extensions=_leaf_extensions("tls-server"))
    if "sealing" not in purposes:
        return None
    sealing = b.ensure(
        f"{folder}/sealing.pem", f"{folder}/sealing.key", subject=_party_name(name, eori, "sealing"),
        validity=_SEALING_VALIDITY.get(condition, "current"),
        issuer=other if condition == "untrusted" and other else issuing,
        extensions=_leaf_extensions("sealing", wrong_key_usage=condition == "wrong-key-usage"))
    b.write(f"{folder}/sealing-chain.pem", _pem(*sealing.path))
    return sealing.cert


def issue_party_certificate(
        pki: TestPki, *, name: str, eori: str, out_dir: Path,
        purpose: Purpose | Literal["both"] = "both", now: datetime | None = None) -> TraderCredentials:
    """Issue valid credentials for a user's own EORI from the test issuing CA (``icssim certs``).

    Writes ``sealing.pem``/``sealing.key``/``sealing-chain.pem`` (leaf -> issuing -> root) and/or
    ``tls.pem`` (leaf + issuing)/``tls.key`` into ``out_dir``, like a trader folder ("both"); the AP
    server certificate ``ap.pem``/``ap.key`` of a push endpoint only when asked for ("ap-server"). The
    files of a purpose not asked for are left alone (they may not exist). The sealing certificate must still be
    registered for the EORI, else the simulator answers EBMS:0004 sub-code A001.
    """
    if not _EORI.match(eori):
        raise ValueError(f"{eori!r} is not an EORI (two-letter country code + up to 15 letters/digits)")
    root_cert = load_certificates(pki.ca.root_cert)[0]
    issuing_cert = load_certificates(pki.ca.issuing_cert)[0]
    issuing = _Issued(issuing_cert, load_private_key(pki.ca.issuing_key), (issuing_cert, root_cert))
    out = Path(out_dir).resolve()
    purposes: tuple[Purpose, ...] = ("sealing", "tls-client") if purpose == "both" else (purpose,)
    builder = _Builder(out, _utc(now), force=True)
    _issue_party(builder, ".", TraderSpec(name, eori, "valid"), issuing, None, purposes)
    if purpose == "both":  # a full identity: party.json lets the harness act as it (`conformance --party DIR`)
        files = {key: file for key, file in _TRADER_LAYOUT.items() if (out / file).exists()}
        builder.write("party.json", json.dumps({"format": PARTY_FORMAT, "name": name, "eori": eori,
                                                "files": files}, indent=2).encode() + b"\n")
    return TraderCredentials(name, eori, "valid", **{key: out / file for key, file in _TRADER_LAYOUT.items()})
