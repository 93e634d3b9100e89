"""The evidence pack a vendor hands to a certifier: one signed zip per conformance run.

Format "icssim-evidence/1" (a zip with sorted members and fixed timestamps, so the same run gives the
same bytes):
- every file of the reports directory (``run.json``, ``run-spec.json``, the JUnit, Cucumber and HTML
  reports, ...) under its relative name; older ``evidence-*.zip`` packs are left out;
- extra files the caller adds (the capability file as ``capabilities/<name>``);
- ``wire/<scenario id>/<nnn>-<direction>-<kind>-<action>.bin`` (the raw AS4 message of each journal
  entry in ``run.json``) and ``.xml`` beside it (its decoded payload; ``.txt`` when not XML, ``.json``
  when structured);
- ``versions.json``: the tools and data the run used (icssim, Python, lxml, cryptography, sha256 of the
  schemas, rules data and features folders) with what ``run.json`` records taking precedence;
- ``manifest.json``: format, product, suite, created (the run's ``finished``), signature algorithm and
  ``files`` = {path: {sha256, size}} for every member above;
- ``manifest.sig``: detached signature of the manifest.json bytes, RSASSA-PKCS1-v1_5 with SHA-256
  (RFC 8017 §8.2; chosen over PSS because it is deterministic), or ECDSA with SHA-256 for an EC key;
- ``signer.pem``: the signing certificate first, then its issuers.

The test PKI's ``harness/evidence.pem`` signs by default (certs/README.md); a certifier checks it against
``ca/root.pem``. In a real certification the lab signs with its own key (``build_pack`` key_path /
chain_path, ``icssim evidence build --evidence-key/--evidence-cert``) and certifiers trust the lab's root.
Verification: scenarios/evidence_verify.py; comparison of two packs: scenarios/evidence_diff.py.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import platform
import re
import zipfile
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

FORMAT = "icssim-evidence/1"
RUN_FORMAT = "icssim-run/1"
MANIFEST, SIGNATURE, SIGNER = "manifest.json", "manifest.sig", "signer.pem"
VERSIONS, RUN = "versions.json", "run.json"
_ROOT = Path(__file__).resolve().parents[1]  # beside `simulator/` and `features/`, installed or not
_DATA_FOLDERS = {"schemas_sha256": "simulator/ics2/schemas", "rules_data_sha256": "simulator/ics2/data",
                 "features_sha256": "features"}
_SLUG = re.compile(r"[^A-Za-z0-9._-]+")
_PACK_NAME = re.compile(r"^evidence-.*\.zip(\.tmp)?$")  # earlier packs (and one being written)


# -- building ------------------------------------------------------------------------------------------
def build_pack(reports_dir: Path, out: Path, *, key_path: Path, chain_path: Path,
               extra: Mapping[str, bytes] | None = None, versions: Mapping[str, str]) -> Path:
    """Write the signed evidence pack of the run in ``reports_dir`` to ``out`` and return ``out``.

    ``extra`` adds files by pack path (e.g. the capability file); ``versions`` is the tool and data
    listing of ``collect_versions`` (run.json's own records win). ValueError when something would be
    packed twice, a path is unsafe, a symbolic link is in the reports, or the key does not match the
    chain's first certificate.
    """
    reports_dir, out = Path(reports_dir), Path(out)
    run = load_json_object(Path(reports_dir / RUN).read_bytes(), RUN)
    if run.get("format") != RUN_FORMAT:
        raise ValueError(f"{reports_dir / RUN}: format {run.get('format')!r}, expected {RUN_FORMAT!r}")
    files: dict[str, bytes] = {}
    for path in sorted(reports_dir.rglob("*")):
        if path.is_symlink():
            raise ValueError(f"{path}: a symbolic link; the pack holds only regular files")
        if path.is_file() and path.resolve() != out.resolve() and not _PACK_NAME.match(path.name):
            _add(files, path.relative_to(reports_dir).as_posix(), path.read_bytes())
    if "run-spec.json" not in files:
        raise ValueError(f"{reports_dir}: no run-spec.json")
    for name, data in (extra or {}).items():
        _add(files, name, data)
    for name, data in wire_files(run).items():
        _add(files, name, data)
    _add(files, VERSIONS, _json_bytes(pack_versions(run, versions)))

    key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password=None)
    chain = x509.load_pem_x509_certificates(Path(chain_path).read_bytes())
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError(f"{key_path}: an RSA or EC private key is needed")
    if key.public_key() != chain[0].public_key():
        raise ValueError(f"{key_path} is not the key of the first certificate of {chain_path}")
    created = str(run.get("finished") or "")
    manifest = {
        "format": FORMAT, "created": created, "product": run.get("product"), "suite": run.get("suite"),
        "signature": {"file": SIGNATURE, "signer": SIGNER, "algorithm": _algorithm(key)},
        "files": {name: {"sha256": sha256_hex(data), "size": len(data)} for name, data in sorted(files.items())},
    }
    manifest_bytes = _json_bytes(manifest)
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(manifest_bytes, padding.PKCS1v15(), hashes.SHA256())
    else:
        signature = key.sign(manifest_bytes, ec.ECDSA(hashes.SHA256()))
    signer = b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in chain)
    _write_zip(out, {**files, MANIFEST: manifest_bytes, SIGNATURE: signature, SIGNER: signer}, created)
    return out


def pack_from_run(reports_dir: Path, *, pki_dir: Path, capabilities: Path | None = None) -> Path:
    """Sign the run in ``reports_dir`` with the test PKI's harness certificate; returns
    ``<reports>/evidence-<product>-<version>.zip`` (what the conformance runner calls after a run)."""
    cert, key = harness_credentials(Path(pki_dir))
    return build_pack(reports_dir, default_pack_path(reports_dir), key_path=key, chain_path=cert,
                      extra=capability_extra(capabilities), versions=collect_versions())


def default_pack_path(reports_dir: Path) -> Path:
    """``<reports>/evidence-<product name>-<product version>.zip``, named from run.json."""
    product = load_json_object((Path(reports_dir) / RUN).read_bytes(), RUN).get("product") or {}
    name = _slug(str(product.get("name") or "product"))
    version = _slug(str(product.get("version") or "unversioned"))
    return Path(reports_dir) / f"evidence-{name}-{version}.zip"


def capability_extra(capabilities: Path | None) -> dict[str, bytes]:
    """The capability file as an ``extra`` of ``build_pack``: ``capabilities/<its name>``."""
    return {f"capabilities/{capabilities.name}": capabilities.read_bytes()} if capabilities else {}


def harness_credentials(pki_dir: Path) -> tuple[Path, Path]:
    """(certificate chain, key) of the harness in a test PKI, read from its manifest.json."""
    manifest = json.loads((pki_dir / "manifest.json").read_text(encoding="utf-8"))
    entry = manifest.get("harness")
    if not isinstance(entry, dict):
        raise FileNotFoundError(f"{pki_dir} has no evidence signing certificate yet: "
                                f"run `icssim certs init --dir {pki_dir}`")
    return pki_dir / entry["chain"], pki_dir / entry["key"]


def wire_files(run: Mapping[str, Any]) -> dict[str, bytes]:
    """Every journal entry of every scenario as pack files (raw ``.bin``, payload ``.xml``)."""
    files: dict[str, bytes] = {}
    for scenario in run.get("scenarios") or []:
        folder = f"wire/{_slug(str(scenario.get('id', '')))}"
        for number, entry in enumerate(scenario.get("wire") or [], start=1):
            parts = (_slug(str(entry.get(key) or "none")) for key in ("direction", "kind", "action"))
            stem = f"{folder}/{number:03d}-{'-'.join(parts)}"
            try:
                if entry.get("raw_b64"):
                    files[f"{stem}.bin"] = base64.b64decode(entry["raw_b64"], validate=True)
                if entry.get("payload_b64"):
                    files[f"{stem}.payload.bin"] = base64.b64decode(entry["payload_b64"], validate=True)
            except binascii.Error as exc:
                raise ValueError(f"run.json: scenario {scenario.get('id')!r} entry {number}: {exc}") from None
            payload = entry.get("payload")
            if isinstance(payload, str):
                files[f"{stem}.xml" if payload.lstrip().startswith("<") else f"{stem}.txt"] = payload.encode()
            elif payload is not None:
                files[f"{stem}.json"] = _json_bytes(payload)
    return files


def collect_versions() -> dict[str, str]:
    """Versions of the tools of this installation and sha256 of its schemas, rules data and features."""
    found = {name: _distribution(name) for name in ("icssim", "lxml", "cryptography", "pytest", "pytest-bdd")}
    found["python"] = platform.python_version()
    for key, folder in _DATA_FOLDERS.items():
        if (_ROOT / folder).is_dir():
            found[key] = treesha256_hex(_ROOT / folder)
    return found


def pack_versions(run: Mapping[str, Any], versions: Mapping[str, str]) -> dict[str, Any]:
    """``versions`` overlaid with what run.json records of the suite (it is what the run used)."""
    suite = run.get("suite") or {}
    recorded = {key: suite[key] for key in ("features_sha256", "requirements_sha256") if suite.get(key)}
    named = {"suite": f"{suite.get('name', '')} {suite.get('version', '')}".strip(), "driver": run.get("driver")}
    return {**versions, **recorded, **{key: value for key, value in named.items() if value}}


def treesha256_hex(folder: Path) -> str:
    """sha256 of the folder's ``sha256sum``-style listing ("<hex>  <relative path>\\n", sorted by path)."""
    lines = [f"{sha256_hex(path.read_bytes())}  {path.relative_to(folder).as_posix()}\n"
             for path in sorted(folder.rglob("*"))
             if path.is_file() and "__pycache__" not in path.parts]
    return sha256_hex("".join(lines).encode())


# -- helpers -------------------------------------------------------------------------------------------
def _add(files: dict[str, bytes], name: str, data: bytes) -> None:
    parts = PurePosixPath(name).parts
    if not name or name.startswith("/") or "\\" in name or ".." in parts or "." in parts:
        raise ValueError(f"{name!r}: not a safe path inside a pack")
    if name in files or name in (MANIFEST, SIGNATURE, SIGNER) or (name == VERSIONS and VERSIONS in files):
        raise ValueError(f"{name}: would be packed twice (or is a name the pack reserves)")
    files[name] = bytes(data)


def _write_zip(out: Path, members: Mapping[str, bytes], created: str) -> None:
    moment = parse_time(created, default=datetime(1980, 1, 1, tzinfo=UTC))  # never the wall clock: same bytes
    stamp = max((1980, 1, 1, 0, 0, 0), tuple(moment.utctimetuple())[:6])  # zip dates start in 1980
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")  # a reader never sees a half-written pack
    try:
        with zipfile.ZipFile(tmp, "w") as archive:
            for name in sorted(members):
                info = zipfile.ZipInfo(name, date_time=stamp)  # type: ignore[arg-type]
                info.compress_type, info.create_system = zipfile.ZIP_DEFLATED, 3
                info.external_attr = 0o100644 << 16  # a regular file, rw-r--r--, whoever builds it
                archive.writestr(info, members[name], compresslevel=9)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def parse_time(text: Any, default: datetime | None = None) -> datetime:
    """An ISO 8601 time (naive = UTC); ``default`` (or now) when absent or unreadable."""
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return default or datetime.now(UTC)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _algorithm(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return "RSASSA-PKCS1-v1_5-SHA256" if isinstance(key, rsa.RSAPrivateKey) else "ECDSA-SHA256"


def load_json_object(data: bytes, name: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{name}: not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{name}: not a JSON object")
    return value


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).encode() + b"\n"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _slug(text: str) -> str:
    return _SLUG.sub("_", text).strip("._") or "_"


def _distribution(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"
