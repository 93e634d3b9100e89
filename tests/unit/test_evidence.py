"""Evidence packs (scenarios/evidence*.py, `icssim evidence`): build, verify, refuse tampering, compare.

Packs are built from a fabricated but complete reports directory and signed with a real test PKI's harness
certificate; tampering is done on the zip bytes, as a forger would.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import warnings
import zipfile
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from certs.pki import TestPki, init_test_pki, load_certificates, load_private_key
from icssim.cli import main
from scenarios import evidence_verify
from scenarios.evidence import build_pack, pack_from_run, wire_files
from scenarios.evidence_diff import diff_packs, requirement_verdicts
from scenarios.evidence_verify import DOCUMENT_SIGNING, verify_pack

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
FINISHED = "2030-06-01T13:05:00Z"
VERSIONS = {"icssim": "0.1.0", "python": "3.11.7", "lxml": "6.0", "cryptography": "46.0"}
SCENARIOS = (  # id, name, requirements
    ("ics2-r1-filing-registered", "An F43 filing is registered and the MRN shown", ["HTI-4.3", "ENS-REG-01"]),
    ("ics2-r1-filing-rejected", "A rejected filing shows the IE3N99 error", ["ENS-REJ-01"]),
    ("ics2-as4-expired-certificate", "An expired sealing certificate is refused", ["HTI-4.3"]),
    ("ics2-push-delivery", "Push delivery answers with a signed receipt", ["PUSH-01"]),
)
ALL_VERDICTS = ("OK", "NON-STRICT", "FAILED", "UNIMPLEMENTED", "INFORMATIONAL")
BASE = {"ics2-r1-filing-registered": "OK", "ics2-r1-filing-rejected": "OK",
        "ics2-as4-expired-certificate": "NON-STRICT", "ics2-push-delivery": "UNIMPLEMENTED"}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return init_test_pki(tmp_path_factory.mktemp("evidence-pki"), now=NOW)


def _as4(payload: bytes) -> bytes:
    """A multipart/related AS4 message with a gzipped payload part: binary bytes must survive packing."""
    envelope = b'<S12:Envelope xmlns:S12="http://www.w3.org/2003/05/soap-envelope"><S12:Header/></S12:Envelope>'
    return (b"--MIMEBoundary\r\nContent-Type: application/soap+xml\r\n\r\n" + envelope
            + b"\r\n--MIMEBoundary\r\nContent-Type: application/octet-stream\r\n\r\n" + gzip.compress(payload, mtime=0)
            + b"\r\n--MIMEBoundary--\r\n")


def _run_record(version: str, verdicts: Mapping[str, str]) -> dict[str, Any]:
    scenarios = []
    for number, (key, name, requirements) in enumerate(SCENARIOS):
        if key not in verdicts:
            continue
        payload = f'<IE3F43 xmlns="urn:ics2"><LRN>LRN{number:04d}</LRN></IE3F43>'
        wire = [
            {"id": 10 * number + 1, "direction": "in", "kind": "user", "action": "IE3F43", "verdict": "accepted",
             "raw_b64": base64.b64encode(_as4(payload.encode())).decode(), "payload": payload},
            {"id": 10 * number + 2, "direction": "out", "kind": "receipt", "action": None, "verdict": "sent",
             "raw_b64": base64.b64encode(_as4(b"<Receipt/>")).decode()},
        ]
        failure = "expected IE3N99, got nothing" if verdicts[key] == "FAILED" else None
        cited = [{"id": r, "strength": "MUST", "text": f"{r} holds", "source": "ICD"} for r in requirements]
        scenarios.append({"id": key, "name": name, "requirements": cited, "verdict": verdicts[key],
                          "steps": [{"keyword": "When", "text": "the package files an ENS", "verdict": "OK"}],
                          "failure": failure, "wire": wire})
    return {
        "format": "icssim-run/1",
        "suite": {"name": "ics2-conformance", "version": "1.4.0", "features_sha256": "ab" * 32,
                  "requirements_sha256": "cd" * 32},
        "product": {"name": "acme-edi", "version": version},
        "driver": "command", "started": "2030-06-01T13:00:00+00:00", "finished": FINISHED,
        "selection": {"tags": "ics2 and not slow"}, "capabilities": {"push": True, "release": "R1"},
        "summary": {verdict: Counter(verdicts.values())[verdict] for verdict in ALL_VERDICTS},
        "scenarios": scenarios,
    }


def _reports(directory: Path, version: str = "4.1.0", verdicts: Mapping[str, str] = BASE) -> Path:
    directory.mkdir(parents=True)
    run = _run_record(version, verdicts)
    (directory / "run.json").write_text(json.dumps(run, indent=2))
    (directory / "run-spec.json").write_text(json.dumps({"driver": "command", "product": run["product"]}))
    (directory / "junit-ics2.xml").write_text('<?xml version="1.0"?>\n<testsuites><testsuite name="ics2" '
                                              f'tests="{len(verdicts)}"/></testsuites>\n')
    (directory / "cucumber-ics2.json").write_text(json.dumps([{"name": "ICS2", "elements": []}]))
    (directory / "report-ics2.html").write_text("<!doctype html><title>ICS2 conformance</title><p>acme-edi</p>\n")
    return directory


def _build(pki: TestPki, reports: Path, out: Path) -> Path:
    assert pki.harness is not None
    return build_pack(reports, out, key_path=pki.harness.key, chain_path=pki.harness.chain,
                      extra={"capabilities/acme.toml": b"push = true\n"}, versions=VERSIONS)


@pytest.fixture(scope="module")
def pack(pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("pack")
    return _build(pki, _reports(base / "reports"), base / "acme-4.1.0.zip")


def _rewrite(src: Path, dst: Path, *, replace: Mapping[str, bytes] = {}, drop: Iterable[str] = (),
             add: Iterable[tuple[str | zipfile.ZipInfo, bytes]] = ()) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a duplicate name is the point of one test
        for info in zin.infolist():
            if info.filename not in drop:
                zout.writestr(info, replace.get(info.filename, zin.read(info)))
        for name, data in add:
            zout.writestr(name, data)
    return dst


def _member(pack: Path, name: str) -> bytes:
    with zipfile.ZipFile(pack) as archive:
        return archive.read(name)


def _rsa_sign(key: rsa.RSAPrivateKey, data: bytes) -> bytes:
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def _usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(not ca, not ca, False, False, False, ca, ca, False, False)


def _lab_chain() -> tuple[ec.EllipticCurvePrivateKey, list[x509.Certificate]]:
    """A look-alike lab: a root named like the test root (another key) and an EC document signer."""
    root_key, leaf_key = rsa.generate_private_key(65537, 2048), ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ICS Conformance Simulator (test only)"),
                           x509.NameAttribute(NameOID.COMMON_NAME, "ICSSIM Test Root CA")])
    leaf_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Other lab evidence")])
    certs = []
    for subject, key, ca in ((leaf_name, leaf_key.public_key(), False), (root_name, root_key.public_key(), True)):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(root_name).public_key(key)
                   .serial_number(x509.random_serial_number()).not_valid_before(NOW - timedelta(days=10))
                   .not_valid_after(NOW + timedelta(days=365)).add_extension(_usage(ca=ca), critical=True)
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            builder = builder.add_extension(x509.ExtendedKeyUsage([DOCUMENT_SIGNING]), critical=False)
        certs.append(builder.sign(root_key, hashes.SHA256()))
    return leaf_key, certs


def _pem(certs: Iterable[x509.Certificate]) -> bytes:
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs)


# -- the harness's signing certificate ----------------------------------------------------------------
def test_the_test_pki_has_a_document_signing_certificate_for_the_harness(pki: TestPki) -> None:
    assert pki.harness is not None
    chain = load_certificates(pki.harness.chain)
    assert chain[1:] == load_certificates(pki.ca.issuing_cert)
    chain[0].verify_directly_issued_by(chain[1])
    usage = chain[0].extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value == _usage(ca=False)  # digitalSignature + contentCommitment only
    assert list(chain[0].extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [DOCUMENT_SIGNING]
    assert load_private_key(pki.harness.key).public_key() == chain[0].public_key()
    assert json.loads((pki.directory / "manifest.json").read_text())["harness"]["key"] == "harness/evidence.key"


# -- build and verify ---------------------------------------------------------------------------------
def test_a_fresh_pack_verifies(pki: TestPki, pack: Path) -> None:
    result = verify_pack(pack, trust_anchor=pki.ca.root_cert)
    assert result.problems == []
    assert result.ok
    assert result.product == {"name": "acme-edi", "version": "4.1.0"}
    assert result.summary == {"OK": 2, "NON-STRICT": 1, "FAILED": 0, "UNIMPLEMENTED": 1, "INFORMATIONAL": 0}


def test_pack_contents_manifest_and_versions(pki: TestPki, pack: Path) -> None:
    with zipfile.ZipFile(pack) as archive:
        names = archive.namelist()
        assert names == sorted(names)
        assert {info.date_time for info in archive.infolist()} == {(2030, 6, 1, 13, 5, 0)}
    manifest = json.loads(_member(pack, "manifest.json"))
    assert manifest["format"] == "icssim-evidence/1"
    assert manifest["created"] == FINISHED
    assert manifest["signature"]["algorithm"] == "RSASSA-PKCS1-v1_5-SHA256"
    assert set(names) == {*manifest["files"], "manifest.json", "manifest.sig", "signer.pem"}
    assert {"run.json", "run-spec.json", "junit-ics2.xml", "cucumber-ics2.json", "report-ics2.html",
            "versions.json", "capabilities/acme.toml"} <= set(manifest["files"])
    versions = json.loads(_member(pack, "versions.json"))
    assert versions["features_sha256"] == "ab" * 32  # from run.json
    assert versions["requirements_sha256"] == "cd" * 32
    assert versions["lxml"] == "6.0"
    assert versions["suite"] == "ics2-conformance 1.4.0"
    signer = x509.load_pem_x509_certificates(_member(pack, "signer.pem"))
    assert pki.harness is not None
    assert signer == load_certificates(pki.harness.chain)
    leaf_key = signer[0].public_key()
    assert isinstance(leaf_key, rsa.RSAPublicKey)
    leaf_key.verify(_member(pack, "manifest.sig"), _member(pack, "manifest.json"), padding.PKCS1v15(),
                    hashes.SHA256())


def test_every_wire_message_is_its_own_file(pack: Path) -> None:
    run = json.loads(_member(pack, "run.json"))
    entry = run["scenarios"][0]["wire"][0]
    raw = _member(pack, "wire/ics2-r1-filing-registered/001-in-user-IE3F43.bin")
    assert raw == base64.b64decode(entry["raw_b64"])
    assert _member(pack, "wire/ics2-r1-filing-registered/001-in-user-IE3F43.xml") == entry["payload"].encode()
    assert _member(pack, "wire/ics2-r1-filing-registered/002-out-receipt-none.bin").startswith(b"--MIMEBoundary")
    assert len(wire_files(run)) == 3 * len(run["scenarios"])


def test_same_input_gives_the_same_bytes(pki: TestPki, tmp_path: Path) -> None:
    reports = _reports(tmp_path / "reports")
    first = _build(pki, reports, tmp_path / "one.zip").read_bytes()
    second = _build(pki, reports, tmp_path / "two.zip").read_bytes()
    assert first == second


def test_pack_from_run_uses_the_harness_certificate(pki: TestPki, tmp_path: Path) -> None:
    reports = _reports(tmp_path / "reports")
    capabilities = tmp_path / "capabilities.json"
    capabilities.write_text('{"push": true}')
    pack = pack_from_run(reports, pki_dir=pki.directory, capabilities=capabilities)
    assert pack == reports / "evidence-acme-edi-4.1.0.zip"
    assert verify_pack(pack, trust_anchor=pki.ca.root_cert).ok
    assert _member(pack, "capabilities/capabilities.json") == b'{"push": true}'
    versions = json.loads(_member(pack, "versions.json"))
    assert len(versions["schemas_sha256"]) == 64
    assert len(versions["rules_data_sha256"]) == 64
    # A later pack leaves the earlier one out of its contents.
    again = pack_from_run(reports, pki_dir=pki.directory, capabilities=capabilities)
    assert not any(name.endswith(".zip") for name in zipfile.ZipFile(again).namelist())


def test_a_lab_signs_with_its_own_key_and_root(pki: TestPki, tmp_path: Path) -> None:
    key, chain = _lab_chain()
    (tmp_path / "lab.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    (tmp_path / "lab.pem").write_bytes(_pem(chain))
    (tmp_path / "lab-root.pem").write_bytes(_pem(chain[1:]))
    reports = _reports(tmp_path / "reports")
    assert main(["evidence", "build", str(reports), "--out", str(tmp_path / "lab.zip"),
                 "--evidence-key", str(tmp_path / "lab.key"), "--evidence-cert", str(tmp_path / "lab.pem")]) == 0
    assert json.loads(_member(tmp_path / "lab.zip", "manifest.json"))["signature"]["algorithm"] == "ECDSA-SHA256"
    assert verify_pack(tmp_path / "lab.zip", trust_anchor=tmp_path / "lab-root.pem").ok
    assert not verify_pack(tmp_path / "lab.zip", trust_anchor=pki.ca.root_cert).ok


def test_build_refuses_a_key_that_is_not_the_signers(pki: TestPki, tmp_path: Path) -> None:
    assert pki.harness is not None
    with pytest.raises(ValueError, match="is not the key of the first certificate"):
        build_pack(_reports(tmp_path / "reports"), tmp_path / "x.zip", key_path=pki.simulator.key,
                   chain_path=pki.harness.chain, versions=VERSIONS)


def test_build_refuses_symbolic_links_in_the_reports(pki: TestPki, tmp_path: Path) -> None:
    reports = _reports(tmp_path / "reports")
    (reports / "secrets.pem").symlink_to(pki.ca.root_key)
    with pytest.raises(ValueError, match="symbolic link"):
        _build(pki, reports, tmp_path / "x.zip")


# -- tampering ----------------------------------------------------------------------------------------
def _problems(pki: TestPki, pack: Path) -> list[str]:
    result = verify_pack(pack, trust_anchor=pki.ca.root_cert)
    assert result.ok is (not result.problems)
    return result.problems


def _flip_byte(data: bytes) -> bytes:
    return data[:20] + bytes([data[20] ^ 0x01]) + data[21:]


@pytest.mark.parametrize(("change", "problem"), [
    ({"replace": "report-ics2.html"}, "report-ics2.html: sha256 differs from the manifest"),
    ({"add": [("notes.txt", b"trust me")]}, "extra file notes.txt: not listed in the manifest"),
    ({"drop": ["junit-ics2.xml"]}, "junit-ics2.xml: listed in the manifest but missing from the pack"),
], ids=["changed-report-byte", "extra-file", "missing-file"])
def test_a_changed_file_set_is_named(pki: TestPki, pack: Path, tmp_path: Path, change: dict[str, Any],
                                     problem: str) -> None:
    if "replace" in change:
        change = {"replace": {change["replace"]: _flip_byte(_member(pack, change["replace"]))}}
    assert _problems(pki, _rewrite(pack, tmp_path / "f.zip", **change)) == [problem]


def test_a_changed_manifest_breaks_the_signature(pki: TestPki, pack: Path, tmp_path: Path) -> None:
    html = _member(pack, "report-ics2.html") + b"<p>all OK</p>"
    manifest = json.loads(_member(pack, "manifest.json"))
    manifest["files"]["report-ics2.html"] = {"sha256": hashlib.sha256(html).hexdigest(),
                                             "size": len(html)}
    forged = _rewrite(pack, tmp_path / "f.zip", replace={"report-ics2.html": html,
                                                         "manifest.json": json.dumps(manifest).encode()})
    assert _problems(pki, forged) == [
        "manifest.sig: the signature does not verify over manifest.json with signer.pem's key"]


def test_a_replaced_signature_is_refused(pki: TestPki, pack: Path, tmp_path: Path) -> None:
    other = load_private_key(pki.trader("trader-a").sealing_key)
    forged = _rewrite(pack, tmp_path / "f.zip",
                      replace={"manifest.sig": _rsa_sign(other, _member(pack, "manifest.json"))})
    assert _problems(pki, forged) == [
        "manifest.sig: the signature does not verify over manifest.json with signer.pem's key"]


def test_a_signer_that_does_not_chain_to_the_anchor_is_refused(pki: TestPki, pack: Path, tmp_path: Path) -> None:
    key, chain = _lab_chain()  # named like the test root, but another key
    manifest = _member(pack, "manifest.json")
    forged = _rewrite(pack, tmp_path / "f.zip", replace={
        "manifest.sig": key.sign(manifest, ec.ECDSA(hashes.SHA256())), "signer.pem": _pem(chain)})
    problems = _problems(pki, forged)
    assert len(problems) == 1
    assert problems[0].startswith("signer.pem: 'CN=Other lab evidence'")
    assert "does not chain to the trust anchor" in problems[0]


def test_a_trader_sealing_certificate_is_no_evidence_signer(pki: TestPki, pack: Path, tmp_path: Path) -> None:
    trader = pki.trader("trader-a")
    manifest = _member(pack, "manifest.json")
    forged = _rewrite(pack, tmp_path / "f.zip", replace={
        "manifest.sig": _rsa_sign(load_private_key(trader.sealing_key), manifest),
        "signer.pem": trader.sealing_chain.read_bytes()})
    problems = _problems(pki, forged)
    assert len(problems) == 1
    assert "is not a document signing certificate" in problems[0]


def test_an_expired_signer_is_refused(pki: TestPki, pack: Path) -> None:
    problems = verify_pack(pack, trust_anchor=pki.ca.root_cert, at=NOW + timedelta(days=3 * 365)).problems
    assert problems
    assert all("is not valid on 2033" in problem for problem in problems)


def _symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = 0o120777 << 16
    return info


@pytest.mark.parametrize(("member", "problem"), [
    ("../evil.sh", "member '../evil.sh': path escapes the pack ('..')"),
    ("wire/../../evil.sh", "member 'wire/../../evil.sh': path escapes the pack ('..')"),
    ("/etc/cron.d/evil", "member '/etc/cron.d/evil': absolute path"),
    ("C:/evil.bat", "member 'C:/evil.bat': absolute path"),
    ("run.json", "member 'run.json': duplicate name (2 members)"),
    (_symlink("link-to-root"), "member 'link-to-root': symbolic link"),
], ids=["dot-dot", "nested-dot-dot", "absolute", "drive", "duplicate", "symlink"])
def test_zip_tricks_are_refused(pki: TestPki, pack: Path, tmp_path: Path, member: str | zipfile.ZipInfo,
                                problem: str) -> None:
    forged = _rewrite(pack, tmp_path / "f.zip", add=[(member, b"#!/bin/sh\n")])
    assert problem in _problems(pki, forged)


def test_an_oversized_member_is_not_read(pki: TestPki, pack: Path, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evidence_verify, "MAX_MEMBER_BYTES", 50_000)
    forged = _rewrite(pack, tmp_path / "f.zip", add=[("big.bin", b"\0" * 60_000)])
    assert _problems(pki, forged) == ["member 'big.bin': 60000 bytes, larger than the limit of 50000"]


def test_a_summary_that_contradicts_the_verdicts_is_refused(pki: TestPki, tmp_path: Path) -> None:
    reports = _reports(tmp_path / "reports")
    run = json.loads((reports / "run.json").read_text())
    run["summary"]["OK"] = 3  # one more OK than the scenarios have: signed, but inconsistent
    (reports / "run.json").write_text(json.dumps(run))
    problems = _problems(pki, _build(pki, reports, tmp_path / "x.zip"))
    assert problems == ["run.json: summary says 3 OK, the scenarios have 2"]


def test_a_wire_file_that_is_not_the_recorded_message_is_refused(pki: TestPki, pack: Path, tmp_path: Path) -> None:
    """Even a pack re-signed by a valid signer must carry the messages that run.json records."""
    name = "wire/ics2-r1-filing-rejected/001-in-user-IE3F43.xml"
    other = b'<IE3F43 xmlns="urn:ics2"><LRN>OTHER</LRN></IE3F43>'
    manifest = json.loads(_member(pack, "manifest.json"))
    manifest["files"][name] = {"sha256": hashlib.sha256(other).hexdigest(), "size": len(other)}
    manifest_bytes = json.dumps(manifest).encode()
    assert pki.harness is not None
    forged = _rewrite(pack, tmp_path / "f.zip", replace={
        name: other, "manifest.json": manifest_bytes,
        "manifest.sig": _rsa_sign(load_private_key(pki.harness.key), manifest_bytes)})
    assert _problems(pki, forged) == [f"{name}: differs from its message in run.json"]


# -- comparing ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def newer(pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("newer")
    verdicts = {**BASE, "ics2-r1-filing-rejected": "FAILED", "ics2-push-delivery": "OK"}
    del verdicts["ics2-as4-expired-certificate"]
    return _build(pki, _reports(base / "reports", "4.2.0", verdicts), base / "acme-4.2.0.zip")


def test_diff_between_two_product_versions(pack: Path, newer: Path) -> None:
    diff = diff_packs(pack, newer)
    assert diff.product == ("acme-edi 4.1.0", "acme-edi 4.2.0")
    assert diff.suite[0] == diff.suite[1]
    assert [(c.key, c.kind, c.before, c.after) for c in diff.scenarios] == [
        ("ics2-as4-expired-certificate", "removed", "NON-STRICT", None),
        ("ics2-push-delivery", "changed", "UNIMPLEMENTED", "OK"),
        ("ics2-r1-filing-rejected", "changed", "OK", "FAILED"),
    ]
    assert diff.summary == {"FAILED": (0, 1), "NON-STRICT": (1, 0), "UNIMPLEMENTED": (1, 0)}
    # HTI-4.3 was NON-STRICT (worst of OK and NON-STRICT); the NON-STRICT scenario is gone.
    assert [(c.key, c.before, c.after) for c in diff.requirements] == [
        ("ENS-REJ-01", "OK", "FAILED"), ("HTI-4.3", "NON-STRICT", "OK"), ("PUSH-01", "UNIMPLEMENTED", "OK")]
    text = diff.render()
    assert "product:   acme-edi 4.1.0 -> acme-edi 4.2.0" in text
    assert "changed  ics2-r1-filing-rejected       OK -> FAILED" in text
    assert "FAILED 0 -> 1 (+1)" in text
    assert diff_packs(pack, pack).render().endswith("no verdict changed\n")


def test_requirement_verdict_is_the_worst_of_its_scenarios() -> None:
    run = {"scenarios": [{"id": "a", "verdict": "OK", "requirements": ["R1", {"id": "R2", "verdict": "NON-STRICT"}]},
                         {"id": "b", "verdict": "FAILED", "requirements": ["R1"]},
                         {"id": "c", "verdict": "INFORMATIONAL", "requirements": ["R2", "R3"]}]}
    assert requirement_verdicts(run) == {"R1": "FAILED", "R2": "NON-STRICT", "R3": "INFORMATIONAL"}


# -- command line -------------------------------------------------------------------------------------
def test_cli_verify(pki: TestPki, pack: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evidence", "verify", str(pack), "--pki-dir", str(pki.directory)]) == 0
    assert capsys.readouterr().out.startswith(f"OK {pack}: acme-edi 4.1.0;")
    forged = _rewrite(pack, tmp_path / "f.zip", drop=["run-spec.json"])
    assert main(["evidence", "verify", str(forged), "--trust-anchor", str(pki.ca.root_cert)]) == 1
    assert "  - run-spec.json: listed in the manifest but missing from the pack" in capsys.readouterr().out


def test_cli_diff(pki: TestPki, pack: Path, newer: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    anchor = ["--trust-anchor", str(pki.ca.root_cert)]
    assert main(["evidence", "diff", str(pack), str(newer), *anchor]) == 0
    assert "ics2-r1-filing-rejected" in capsys.readouterr().out
    forged = _rewrite(newer, tmp_path / "f.zip", add=[("notes.txt", b"x")])
    assert main(["evidence", "diff", str(pack), str(forged), *anchor]) == 2
    out = capsys.readouterr().out
    assert f"{forged} does not verify:" in out
    assert "extra file notes.txt" in out
