"""`icssim certs issue`: credentials for a user's own EORI from the test CA, including the server certificate
of a push endpoint (README "Pointing your own package at the simulator")."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from certs.pki import init_test_pki
from icssim.cli import main


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return init_test_pki(tmp_path_factory.mktemp("pki") / "pki").directory


def _eku(path: Path) -> list[x509.ObjectIdentifier]:
    cert = x509.load_pem_x509_certificates(path.read_bytes())[0]
    return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def test_issue_sealing_and_tls(pki_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["certs", "issue", "--dir", str(pki_dir), "--name", "pkg", "--eori", "BE0999999999",
                 "--out", str(tmp_path)]) == 0
    assert {p.name for p in tmp_path.iterdir()} >= {"sealing.pem", "sealing.key", "sealing-chain.pem", "tls.pem",
                                                     "tls.key"}
    assert not (tmp_path / "ap.pem").exists()
    assert _eku(tmp_path / "tls.pem") == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert "sealing and TLS certificates for BE0999999999" in capsys.readouterr().out


def test_issue_access_point_server_certificate(pki_dir: Path, tmp_path: Path) -> None:
    assert main(["certs", "issue", "--dir", str(pki_dir), "--name", "pkg", "--eori", "BE0999999999",
                 "--out", str(tmp_path), "--purpose", "ap-server"]) == 0
    assert {p.name for p in tmp_path.iterdir()} == {"ap.pem", "ap.key"}
    assert _eku(tmp_path / "ap.pem") == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_issue_refuses_a_malformed_eori(pki_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["certs", "issue", "--dir", str(pki_dir), "--name", "pkg", "--eori", "not-an-eori",
                 "--out", str(tmp_path)]) == 2
    assert "is not an EORI" in capsys.readouterr().err
