"""Trust verdicts on certificate chains: an AS4 sealing chain (the X509PKIPathv1 BinarySecurityToken)
or a TLS client's peer chain, judged against the simulator's anchors and CRLs.

Rules (domain/ics2.md "AS4 profile" and "Transport"; ICD §4.3): the token carries the FULL path
(leaf-only is the most common trader error); the sealing certificate must come from a trusted CA,
be within its validity, not be revoked and allow signing. Path checks follow RFC 5280 §6.1 in a
reduced form (no policies, no name constraints). Pure logic: imports ``cryptography`` only.

Conditions, checked in this order: ``leaf-only``, ``broken-chain``, ``untrusted``, ``expired`` /
``not-yet-valid``, ``revoked``, ``wrong-key-usage``, else ``ok``. Which protocol answer each one
gets (EBMS:0101, EBMS:0103, TLS alert ...) is decided by the profile, not here.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

Purpose = Literal["sealing", "tls-client"]
_E = TypeVar("_E", bound=x509.ExtensionType)
_NEVER_START, _NEVER_END = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
CONDITIONS = ("ok", "leaf-only", "broken-chain", "untrusted", "expired", "not-yet-valid", "revoked",
              "wrong-key-usage")
_KEY_USAGE_NAMES = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                    "key_agreement", "key_cert_sign", "crl_sign")
_DN_NAMES = {NameOID.SERIAL_NUMBER: "serialNumber"}


def _camel(name: str) -> str:
    """``key_cert_sign`` / ``SERVER_AUTH`` -> ``keyCertSign`` / ``serverAuth`` (the RFC 5280 names)."""
    first, *rest = name.lower().split("_")
    return first + "".join(part.capitalize() for part in rest)


_EKU_NAMES = {oid: _camel(name) for name, oid in vars(ExtendedKeyUsageOID).items()
              if isinstance(oid, x509.ObjectIdentifier)}


@dataclass(frozen=True, slots=True)
class ChainVerdict:
    """The judgement of one chain: ``condition`` is one of CONDITIONS, ``detail`` says what to fix."""

    ok: bool
    condition: str
    detail: str
    leaf_subject: str
    leaf_fingerprint_sha256: str  # lower-case hex of the leaf's DER


@dataclass(frozen=True, slots=True)
class _Window:
    not_before: datetime
    not_after: datetime
    label: str

    @property
    def span(self) -> str:
        return f"valid {_iso(self.not_before)} to {_iso(self.not_after)}"


@dataclass(frozen=True, slots=True)
class _Judged:
    """Everything about a chain that does not depend on the evaluation time, plus what does."""

    verdict: ChainVerdict  # the structural failure, or the verdict once the validity checks pass
    timeless: bool  # leaf-only / broken-chain / untrusted: no validity check needed
    windows: tuple[_Window, ...] = ()
    latest_start: datetime = _NEVER_END  # intersection of the windows, for the fast path
    earliest_end: datetime = _NEVER_START
    crl_next_update: datetime | None = None  # of the CRL that revoked, to say when it is stale

    def at(self, at: datetime) -> ChainVerdict:
        if self.timeless:
            return self.verdict
        if not self.latest_start <= at <= self.earliest_end:
            # RFC 5280 §4.1.2.5 / §6.1.3 (a)(2): every certificate of the path must be valid at `at`.
            for window in self.windows:
                if at > window.not_after:
                    return replace(self.verdict, ok=False, condition="expired", detail=(
                        f"{window.label} expired on {_iso(window.not_after)} ({window.span}; checked at "
                        f"{_iso(at)}) - RFC 5280 §4.1.2.5"))
                if at < window.not_before:
                    return replace(self.verdict, ok=False, condition="not-yet-valid", detail=(
                        f"{window.label} is not valid before {_iso(window.not_before)} ({window.span}; "
                        f"checked at {_iso(at)}) - RFC 5280 §4.1.2.5"))
        if self.crl_next_update is not None and at > self.crl_next_update:
            return replace(self.verdict, detail=(
                f"{self.verdict.detail}; note: that CRL is stale (nextUpdate {_iso(self.crl_next_update)}) "
                "but a listed revocation is still honoured"))
        return self.verdict


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dn(name: x509.Name) -> str:
    return name.rfc4514_string(_DN_NAMES)


def _describe(cert: x509.Certificate) -> str:
    return f"certificate '{_dn(cert.subject)}' (serial {cert.serial_number:X})"


def _subject_key(cert: x509.Certificate) -> tuple[bytes, bytes]:
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return cert.subject.public_bytes(), spki


def _extension(cert: x509.Certificate, kind: type[_E]) -> _E | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _usages(usage: x509.KeyUsage) -> list[str]:
    return [_camel(name) for name in _KEY_USAGE_NAMES if getattr(usage, name)]


def _read_crls(path: Path) -> list[x509.CertificateRevocationList]:
    data = Path(path).read_bytes()
    if b"-----BEGIN" not in data:
        return [x509.load_der_x509_crl(data)]
    marker = b"-----BEGIN X509 CRL-----"
    return [x509.load_pem_x509_crl(marker + block) for block in data.split(marker)[1:]]


class TrustStore:
    """Anchors (trusted roots) and CRLs; :meth:`evaluate` gives a :class:`ChainVerdict` per chain.

    Verdicts are cached per (certificate fingerprints, purpose, require_full_path) with the chain's
    validity windows, so a cached verdict is still re-checked against ``at`` (hot path, every request).
    """

    def __init__(self, anchors: Sequence[x509.Certificate],
                 crls: Sequence[x509.CertificateRevocationList] = (), *, cache_size: int = 10_000) -> None:
        if not anchors:
            raise ValueError("a trust store needs at least one anchor")
        self._anchors = tuple(anchors)
        self._by_fingerprint = {anchor.fingerprint(hashes.SHA256()): anchor for anchor in self._anchors}
        self._by_subject_key = {_subject_key(anchor): anchor for anchor in self._anchors}
        self._crl_files: tuple[Path, ...] = ()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._cache: dict[tuple[tuple[bytes, ...], str, bool], _Judged] = {}
        self._crls: dict[bytes, tuple[x509.CertificateRevocationList, ...]] = {}
        self._generation = 0  # bumped with every CRL reload: a verdict judged before it is not cached
        self.reload_crls(crls)

    @classmethod
    def from_files(cls, anchor_pems: Sequence[Path], crl_pems: Sequence[Path] = ()) -> TrustStore:
        """Anchors from PEM files (every certificate in each), CRLs from PEM or DER files."""
        anchors = [cert for path in anchor_pems
                   for cert in x509.load_pem_x509_certificates(Path(path).read_bytes())]
        store = cls(anchors, [crl for path in crl_pems for crl in _read_crls(path)])
        store._crl_files = tuple(Path(path) for path in crl_pems)
        return store

    @property
    def anchors(self) -> tuple[x509.Certificate, ...]:
        return self._anchors

    def reload_crls(self, crls: Sequence[x509.CertificateRevocationList] | None = None) -> None:
        """Replace the CRLs (``None``: re-read the files given to :meth:`from_files`) and drop the cache.

        The new set is parsed completely before it replaces the old one, so a bad file changes nothing.
        """
        if crls is None:
            crls = [crl for path in self._crl_files for crl in _read_crls(path)]
        by_issuer: dict[bytes, list[x509.CertificateRevocationList]] = {}
        for crl in crls:
            by_issuer.setdefault(crl.issuer.public_bytes(), []).append(crl)
        with self._lock:
            self._crls = {issuer: tuple(found) for issuer, found in by_issuer.items()}
            self._cache = {}
            self._generation += 1

    def clear_cache(self) -> None:
        with self._lock:
            self._cache = {}

    def evaluate(self, chain: Sequence[x509.Certificate], *, at: datetime, purpose: Purpose,
                 require_full_path: bool = True) -> ChainVerdict:
        """Judge ``chain`` (leaf first, as in the X509PKIPathv1 token or a TLS peer chain) at ``at``.

        ``require_full_path`` (ICD §4.3, AS4 sealing) refuses a lone leaf; a path that stops one step
        below an anchor (the usual TLS peer chain, which omits the root) is completed from the anchors.
        """
        if not chain:
            return ChainVerdict(False, "leaf-only", "no certificate was given (ICD §4.3 requires the full "
                                "X509PKIPathv1 path)", "", "")
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        fingerprints = tuple(cert.fingerprint(hashes.SHA256()) for cert in chain)
        key = (fingerprints, purpose, require_full_path)
        judged = self._cache.get(key)
        if judged is None:
            generation = self._generation
            try:
                judged = self._judge(chain, fingerprints[0].hex(), purpose, require_full_path)
            except (ValueError, x509.DuplicateExtension) as exc:  # extensions are decoded lazily
                judged = _Judged(ChainVerdict(False, "broken-chain", f"a certificate of the path cannot be "
                                              f"decoded: {exc}", "", fingerprints[0].hex()), timeless=True)
            with self._lock:
                if generation == self._generation:
                    if len(self._cache) >= self._cache_size:
                        del self._cache[next(iter(self._cache))]  # oldest first: dicts keep insertion order
                    self._cache[key] = judged
        return judged.at(at)

    def _judge(self, chain: Sequence[x509.Certificate], leaf_fingerprint: str, purpose: Purpose,
               require_full_path: bool) -> _Judged:
        leaf = chain[0]
        leaf_subject = _dn(leaf.subject)

        def timeless(condition: str, detail: str) -> _Judged:
            verdict = ChainVerdict(False, condition, detail, leaf_subject, leaf_fingerprint)
            return _Judged(verdict, timeless=True)

        if len(chain) == 1 and require_full_path:
            return timeless("leaf-only", (
                f"only the leaf {_describe(leaf)} was sent; ICD §4.3 requires the X509PKIPathv1 token to "
                f"carry the full path: the leaf, its issuer '{_dn(leaf.issuer)}', on to the root"))
        broken = _first_broken_link(chain)
        if broken:
            return timeless("broken-chain", broken)
        path, anchor, problem = self._anchor_path(chain)
        if anchor is None:
            return timeless("untrusted", problem)
        labels = [f"{_describe(cert)}, #{index} in the path{' (trust anchor)' if cert is anchor else ''},"
                  for index, cert in enumerate(path)]
        windows = tuple(_Window(cert.not_valid_before_utc, cert.not_valid_after_utc, label)
                        for cert, label in zip(path, labels, strict=True))
        revoked, next_update = self._revocation(path)
        start, end = max(w.not_before for w in windows), min(w.not_after for w in windows)
        condition, detail = ("revoked", revoked) if revoked else _usage_problem(leaf, purpose)
        if condition == "ok":
            names = " -> ".join(repr(_dn(cert.subject)) for cert in path)
            detail = f"{purpose} chain {names} is trusted; valid {_iso(start)} to {_iso(end)}"
        verdict = ChainVerdict(condition == "ok", condition, detail, leaf_subject, leaf_fingerprint)
        return _Judged(verdict, timeless=False, windows=windows, latest_start=start, earliest_end=end,
                       crl_next_update=next_update)

    def _anchor_path(self, chain: Sequence[x509.Certificate]
                     ) -> tuple[list[x509.Certificate], x509.Certificate | None, str]:
        """The path up to an anchor (RFC 5280 §6.1: the trust anchor input), or why there is none."""
        top = chain[-1]
        anchor = self._by_fingerprint.get(top.fingerprint(hashes.SHA256())) or self._by_subject_key.get(
            _subject_key(top))
        if anchor is not None:
            return list(chain), top, ""
        known = ", ".join(repr(_dn(a.subject)) for a in self._anchors)
        if top.issuer == top.subject:
            return [], None, (f"the path ends at the self-signed {_describe(top)}, which is not a trust "
                              f"anchor of the simulator (trusted roots: {known}; see ca/trust-bundle.pem)")
        for candidate in self._anchors:
            if candidate.subject == top.issuer:
                try:
                    top.verify_directly_issued_by(candidate)
                except (ValueError, TypeError, InvalidSignature):
                    return [], None, (f"{_describe(top)} names the trust anchor "
                                      f"'{_dn(top.issuer)}' as issuer, but its signature does "
                                      "not verify with that anchor's key")
                return [*chain, candidate], candidate, ""
        return [], None, (f"the path ends at {_describe(top)}, whose issuer '{_dn(top.issuer)}' "
                          f"is neither in the path nor a trust anchor (trusted roots: {known})")

    def _revocation(self, path: Sequence[x509.Certificate]) -> tuple[str, datetime | None]:
        """RFC 5280 §6.3: a certificate listed in a CRL of its issuer (signature verified) is revoked."""
        crls = self._crls
        for cert, issuer in itertools.pairwise(path):
            for crl in crls.get(cert.issuer.public_bytes(), ()):
                if not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
                    continue  # a CRL that its issuer did not sign says nothing
                entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
                if entry is None:
                    continue
                reason = _extension_of_entry(entry)
                return (f"{_describe(cert)} is revoked since {_iso(entry.revocation_date_utc)}{reason} "
                        f"according to the CRL of '{_dn(crl.issuer)}' (thisUpdate "
                        f"{_iso(crl.last_update_utc)}) - RFC 5280 §5.3", crl.next_update_utc)
        return "", None


def _extension_of_entry(entry: x509.RevokedCertificate) -> str:
    try:
        return f" (reason {entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.value})"
    except x509.ExtensionNotFound:
        return ""


def _first_broken_link(chain: Sequence[x509.Certificate]) -> str:
    """RFC 5280 §6.1.3 (a)(1), (a)(4) and §6.1.4 (k), (l)-(n): each certificate must be signed by the next
    one, which must be a CA (basicConstraints cA, keyCertSign, pathLenConstraint)."""
    for index, (child, parent) in enumerate(itertools.pairwise(chain)):
        where = f"#{index + 1} {_describe(parent)}, given as issuer of #{index} {_describe(child)},"
        constraints = _extension(parent, x509.BasicConstraints)
        if constraints is None or not constraints.ca:
            return f"{where} is not a CA (basicConstraints cA is not true) - RFC 5280 §4.2.1.9"
        usage = _extension(parent, x509.KeyUsage)
        if usage is not None and not usage.key_cert_sign:
            return f"{where} may not sign certificates (KeyUsage {_usages(usage)}) - RFC 5280 §4.2.1.3"
        below = sum(1 for cert in chain[1:index + 1] if cert.subject != cert.issuer)
        if constraints.path_length is not None and below > constraints.path_length:
            return (f"{where} allows {constraints.path_length} intermediate CA(s) below it "
                    f"(pathLenConstraint), the path has {below} - RFC 5280 §4.2.1.9")
        try:
            child.verify_directly_issued_by(parent)
        except ValueError as exc:
            named = _dn(child.issuer)
            return f"{where} did not issue it ({exc}; the child names issuer '{named}')"
        except (TypeError, InvalidSignature):
            return f"{where} did not issue it: the signature does not verify with its key"
    return ""


def _usage_problem(leaf: x509.Certificate, purpose: Purpose) -> tuple[str, str]:
    """Sealing: KeyUsage must allow digitalSignature or contentCommitment (RFC 5280 §4.2.1.3; ICD §4.3).
    TLS client: ExtendedKeyUsage, if present, must contain clientAuth (RFC 5280 §4.2.1.12) and KeyUsage,
    if present, digitalSignature (the client signs CertificateVerify, RFC 8446 §4.4.3)."""
    usage = _extension(leaf, x509.KeyUsage)
    if purpose == "sealing":
        if usage is not None and not (usage.digital_signature or usage.content_commitment):
            return "wrong-key-usage", (
                f"the sealing {_describe(leaf)} has KeyUsage {_usages(usage)}; signing AS4 messages needs "
                "digitalSignature or contentCommitment (nonRepudiation) - RFC 5280 §4.2.1.3")
        return "ok", ""
    extended = _extension(leaf, x509.ExtendedKeyUsage)
    if extended is not None and not {
            ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE} & set(extended):
        names = [_EKU_NAMES.get(oid, oid.dotted_string) for oid in extended]
        return "wrong-key-usage", (
            f"the TLS client {_describe(leaf)} has ExtendedKeyUsage {names} without clientAuth "
            "(1.3.6.1.5.5.7.3.2) - RFC 5280 §4.2.1.12")
    if usage is not None and not usage.digital_signature:
        return "wrong-key-usage", (
            f"the TLS client {_describe(leaf)} has KeyUsage {_usages(usage)} without digitalSignature, "
            "needed to sign the handshake (CertificateVerify) - RFC 5280 §4.2.1.3")
    return "ok", ""
