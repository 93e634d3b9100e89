"""Verification of an evidence pack (format: scenarios/evidence.py), as a certifier runs it.

A pack is accepted only when its manifest.json is signed (RSASSA-PKCS1-v1_5 or ECDSA, SHA-256) by the first
certificate of signer.pem, that certificate may sign documents (key usage digitalSignature or
nonRepudiation, extended key usage id-kp-documentSigning of RFC 9336) and chains to the certifier's trust
anchor, every listed file is there with its sha256 and size, nothing else is, and run.json agrees with
itself, the manifest and the wire files. Certificate validity is judged at the pack's ``created`` time
(the signer's claim; there is no trusted timestamp) unless a time is given. Members that could escape or
overload an extracting tool (absolute paths, ``..``, duplicate names, symbolic links, encryption, more
than the size limits) are refused and never read.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from scenarios.evidence import (
    FORMAT,
    MANIFEST,
    RUN,
    RUN_FORMAT,
    SIGNATURE,
    SIGNER,
    load_json_object,
    parse_time,
    sha256_hex,
    wire_files,
)

MAX_MEMBER_BYTES = 64 * 1024 * 1024  # a wire message or report; far above any real one
MAX_PACK_BYTES = 1024 * 1024 * 1024  # all members together, uncompressed
MAX_MEMBERS = 50_000
MAX_CHAIN = 8
# id-kp-documentSigning (RFC 9336): required of the signer, so that a trader's sealing certificate (same
# key usage, no extended key usage) cannot pass as an evidence signer. Same OID as certs/pki.py.
DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")


@dataclass(frozen=True)
class VerifyResult:
    """What ``verify_pack`` found; ``problems`` name the file and what is wrong with it."""

    ok: bool
    problems: list[str]
    product: Any = None
    summary: Any = None


def verify_pack(pack: Path, *, trust_anchor: Path, at: datetime | None = None) -> VerifyResult:
    """Check a pack: signature over manifest.json by signer.pem's first certificate, that certificate's
    chain to ``trust_anchor`` (validity at ``at``, default the pack's ``created``; key usage), every
    listed file present with its hash and size, nothing unlisted, the wire files and summary consistent
    with run.json. Zip tricks (absolute paths, ``..``, duplicates, links, oversize) are refused."""
    anchors = x509.load_pem_x509_certificates(Path(trust_anchor).read_bytes())
    members, problems = read_pack(Path(pack))
    manifest_bytes = members.get(MANIFEST)
    manifest: dict[str, Any] = {}
    if manifest_bytes is None:
        problems.append(f"{MANIFEST}: missing from the pack")
    else:
        try:
            manifest = load_json_object(manifest_bytes, MANIFEST)
        except ValueError as exc:
            problems.append(str(exc))
        if manifest and manifest.get("format") != FORMAT:
            problems.append(f"{MANIFEST}: format {manifest.get('format')!r}, expected {FORMAT!r}")
        when = at or parse_time(manifest.get("created"))
        problems += _signature_problems(manifest_bytes, members.get(SIGNATURE), members.get(SIGNER), anchors, when)
    files = manifest.get("files")
    listed: dict[str, Any] = files if isinstance(files, dict) else {}
    if manifest and not isinstance(files, dict):
        problems.append(f"{MANIFEST}: no files listing")
    for name, entry in sorted(listed.items()):
        data = members.get(name)
        if data is None:
            problems.append(f"{name}: listed in the manifest but missing from the pack")
        elif not isinstance(entry, dict) or sha256_hex(data) != entry.get("sha256"):
            problems.append(f"{name}: sha256 differs from the manifest")
        elif len(data) != entry.get("size"):
            problems.append(f"{name}: size {len(data)} differs from the manifest's {entry.get('size')}")
    if manifest:  # without a manifest every member would be "extra": say only that it is missing
        problems += [f"extra file {name}: not listed in the manifest"
                     for name in sorted(set(members) - set(listed) - {MANIFEST, SIGNATURE, SIGNER})]
    run: dict[str, Any] = {}
    if manifest and RUN in members:
        try:
            run = load_json_object(members[RUN], RUN)
        except ValueError as exc:
            problems.append(str(exc))
        else:
            problems += run_problems(run, manifest, members)
    elif manifest:
        problems.append(f"{RUN}: missing from the pack")
    return VerifyResult(not problems, problems, manifest.get("product"), run.get("summary"))


def read_pack(pack: Path) -> tuple[dict[str, bytes], list[str]]:
    """The pack's regular members by name, and the members refused (with why)."""
    try:
        archive = zipfile.ZipFile(pack)
    except (OSError, zipfile.BadZipFile) as exc:
        return {}, [f"{pack.name}: not a readable zip ({exc})"]
    members: dict[str, bytes] = {}
    problems: list[str] = []
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            return {}, [f"{pack.name}: {len(infos)} members, more than the limit of {MAX_MEMBERS}"]
        counts, total = Counter(info.filename for info in infos), 0
        for info in infos:
            name = info.filename
            refusal = _refusal(info, counts[name])
            if refusal:
                problem = f"member {name!r}: {refusal}"
                problems += [] if problem in problems else [problem]
                continue
            if info.is_dir():
                continue  # folders are implied by the file names; archivers add them
            total += info.file_size
            if total > MAX_PACK_BYTES:
                return members, [*problems, f"{pack.name}: more than {MAX_PACK_BYTES} bytes uncompressed"]
            try:
                with archive.open(info) as handle:
                    data = handle.read(MAX_MEMBER_BYTES + 1)
            except (zipfile.BadZipFile, OSError, zlib.error, NotImplementedError, RuntimeError) as exc:
                problems.append(f"member {name!r}: unreadable ({exc})")
                continue
            if len(data) > MAX_MEMBER_BYTES:  # the declared size lied
                problems.append(f"member {name!r}: larger than the limit of {MAX_MEMBER_BYTES} bytes")
                continue
            members[name] = data
    return members, problems


def run_problems(run: Mapping[str, Any], manifest: Mapping[str, Any], members: Mapping[str, bytes]) -> list[str]:
    """run.json against itself (summary vs verdicts), the manifest and the extracted wire files."""
    problems = [f"{MANIFEST}: {key} differs from run.json's"
                for key in ("product", "suite") if manifest.get(key) != run.get(key)]
    if run.get("format") != RUN_FORMAT:
        problems.append(f"{RUN}: format {run.get('format')!r}, expected {RUN_FORMAT!r}")
    scenarios, summary = run.get("scenarios"), run.get("summary")
    if not isinstance(scenarios, list) or not isinstance(summary, dict):
        return [*problems, f"{RUN}: no scenarios list or no summary"]
    ids = Counter(str(scenario.get("id")) for scenario in scenarios)
    problems += [f"{RUN}: scenario id {key!r} appears {n} times" for key, n in sorted(ids.items()) if n > 1]
    verdicts = Counter(str(scenario.get("verdict")) for scenario in scenarios)
    for verdict in sorted(set(verdicts) | (set(summary) - {"total"})):
        if summary.get(verdict, 0) != verdicts[verdict]:
            problems.append(f"{RUN}: summary says {summary.get(verdict, 0)} {verdict}, "
                            f"the scenarios have {verdicts[verdict]}")
    if "total" in summary and summary["total"] != len(scenarios):
        problems.append(f"{RUN}: summary total {summary['total']}, the scenarios are {len(scenarios)}")
    try:
        expected = wire_files(run)
    except ValueError as exc:
        return [*problems, str(exc)]
    for name in sorted(set(expected) | {n for n in members if n.startswith("wire/")}):
        if name not in members:
            problems.append(f"{name}: a message of run.json missing from the pack")
        elif name not in expected:
            problems.append(f"{name}: not a message of run.json")
        elif members[name] != expected[name]:
            problems.append(f"{name}: differs from its message in run.json")
    return problems


def _refusal(info: zipfile.ZipInfo, count: int) -> str | None:
    name = info.filename
    parts = PurePosixPath(name).parts
    if count > 1:
        return f"duplicate name ({count} members)"
    if not name or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    if "\\" in name or "\x00" in name:
        return "backslash or NUL in the path"
    if ".." in parts:
        return "path escapes the pack ('..')"
    components = name.split("/")
    if any(part in ("", ".") for part in components[:-1]) or components[-1] == ".":
        return "non-canonical path ('.' or an empty folder name)"
    if (info.external_attr >> 16) & 0o170000 == 0o120000:
        return "symbolic link"
    if info.flag_bits & 0x1:
        return "encrypted"
    if info.file_size > MAX_MEMBER_BYTES:
        return f"{info.file_size} bytes, larger than the limit of {MAX_MEMBER_BYTES}"
    return None


def _signature_problems(manifest: bytes, signature: bytes | None, signer: bytes | None,
                        anchors: list[x509.Certificate], at: datetime) -> list[str]:
    if signature is None or signer is None:
        return [f"{name}: missing from the pack" for name, data in ((SIGNATURE, signature), (SIGNER, signer))
                if data is None]
    try:
        chain = x509.load_pem_x509_certificates(signer)
    except ValueError:
        return [f"{SIGNER}: no readable certificate"]
    key, problems = chain[0].public_key(), []
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, manifest, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, manifest, ec.ECDSA(hashes.SHA256()))
        else:
            raise InvalidSignature
    except InvalidSignature:
        problems.append(f"{SIGNATURE}: the signature does not verify over {MANIFEST} with {SIGNER}'s key")
    return problems + chain_problems(chain, anchors, at)


def chain_problems(chain: list[x509.Certificate], anchors: list[x509.Certificate], at: datetime) -> list[str]:
    """Why ``chain`` (signer first) is not a valid evidence signer under ``anchors`` at ``at``; [] if it is."""
    leaf = chain[0]
    problems = _validity(leaf, at)
    usage = _extension(leaf, x509.KeyUsage)
    if usage is None or not (usage.digital_signature or usage.content_commitment):
        problems.append(f"{SIGNER}: {_who(leaf)} may not sign (key usage digitalSignature/nonRepudiation)")
    purposes = _extension(leaf, x509.ExtendedKeyUsage)
    if purposes is None or DOCUMENT_SIGNING not in purposes:
        problems.append(f"{SIGNER}: {_who(leaf)} is not a document signing certificate (RFC 9336 EKU)")
    current = leaf
    for _ in range(MAX_CHAIN):
        if current in anchors or _issuer(current, anchors) is not None:
            return problems
        issuer = _issuer(current, chain[1:])
        if issuer is None or issuer == current:
            return [*problems, f"{SIGNER}: {_who(leaf)} does not chain to the trust anchor "
                               f"(no trusted issuer for {_who(current)})"]
        constraints, usage = _extension(issuer, x509.BasicConstraints), _extension(issuer, x509.KeyUsage)
        if constraints is None or not constraints.ca or usage is None or not usage.key_cert_sign:
            problems.append(f"{SIGNER}: {_who(issuer)} is not a certificate authority")
        problems += _validity(issuer, at)
        current = issuer
    return [*problems, f"{SIGNER}: chain longer than {MAX_CHAIN} certificates"]


def _issuer(cert: x509.Certificate, candidates: list[x509.Certificate]) -> x509.Certificate | None:
    for candidate in candidates:
        if candidate.subject == cert.issuer:
            try:
                cert.verify_directly_issued_by(candidate)
            except (ValueError, TypeError, InvalidSignature):
                continue
            return candidate
    return None


def _validity(cert: x509.Certificate, at: datetime) -> list[str]:
    if cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
        return []
    return [f"{SIGNER}: {_who(cert)} is not valid on {at.isoformat()} "
            f"(valid {cert.not_valid_before_utc.isoformat()} to {cert.not_valid_after_utc.isoformat()})"]


def _extension(cert: x509.Certificate, kind: type[Any]) -> Any:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _who(cert: x509.Certificate) -> str:
    return f"'{cert.subject.rfc4514_string()}' (serial {cert.serial_number:x})"
