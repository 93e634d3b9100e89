"""The transport layer: mutual TLS on the trader listener, and the control API kept off it."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from scenarios.simctl import ControlError, SimControl
from tests.integration.conftest import SimHandle

pytestmark = pytest.mark.slow

_REQUEST = b"POST /ics2/as4 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def _exchange(context: ssl.SSLContext, port: int) -> tuple[str, object]:
    """Open a TLS connection and send one HTTP request: ("handshake"|"exchange", the exception) when the
    connection is refused, ("answered", bytes received) otherwise."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        tls = context.wrap_socket(raw, server_hostname="localhost")
    except (ssl.SSLError, ConnectionError) as exc:
        raw.close()
        return "handshake", exc
    try:
        tls.sendall(_REQUEST)
        received = b""
        while chunk := tls.recv(65536):
            received += chunk
        return "answered", received
    except (ssl.SSLError, ConnectionError) as exc:
        return "exchange", exc
    finally:
        tls.close()


def _client_context(ca_file: Path, cert: Path | None = None, key: Path | None = None,
                    *, tls12_only: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if tls12_only:
        # TLS 1.2 makes the server's verdict on the client certificate part of the handshake itself.
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    if cert is not None:
        context.load_cert_chain(str(cert), str(key) if key else None)
    return context


def _foreign_client_certificate(directory: Path) -> tuple[Path, Path]:
    """A TLS client certificate (clientAuth EKU) issued by a root made here, unknown to the simulator."""
    now = datetime.now(UTC)
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Foreign Test Root")])
    root = (x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
            .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(root_key, hashes.SHA256()))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "BE0123456789 tls")]))
            .issuer_name(root_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(root_key, hashes.SHA256()))
    cert_file, key_file = directory / "foreign-tls.pem", directory / "foreign-tls.key"
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM)
                          + root.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_registered_client_certificate_gets_an_http_answer(sim: SimHandle) -> None:
    """domain/ics2.md "Transport": two-way TLS >= 1.2 with a certificate of the trusted CA is served
    (the positive control of the refusal tests below: the probe does see an HTTP answer when one comes)."""
    files = sim.pki.trader("trader-a")
    for tls12_only in (True, False):
        context = _client_context(sim.pki.trust_bundle, files.tls_cert, files.tls_key, tls12_only=tls12_only)
        kind, received = _exchange(context, sim.local.trader_port)
        assert kind == "answered", received
        assert isinstance(received, bytes), received
        assert received.startswith(b"HTTP/1.1 200"), received[:200]


@pytest.mark.parametrize("client_cert", ["none", "foreign-root", "untrusted-sealing-as-tls", "self-signed"])
@pytest.mark.parametrize("tls12_only", [True, False], ids=["tls1.2", "tls1.3"])
def test_client_without_trusted_certificate_is_refused_in_the_handshake(
        sim: SimHandle, tmp_path: Path, client_cert: str, tls12_only: bool) -> None:
    """domain/ics2.md "Transport" (mandatory two-way TLS, trusted CA): a client with no certificate, or with
    one from another CA, is refused by the TLS layer: the connection fails and no HTTP byte is answered."""
    cert: Path | None = None
    key: Path | None = None
    if client_cert == "foreign-root":
        cert, key = _foreign_client_certificate(tmp_path)
    elif client_cert == "untrusted-sealing-as-tls":
        untrusted = sim.pki.trader("untrusted")  # issued by the test PKI's *unrelated* root
        cert, key = untrusted.sealing_chain, untrusted.sealing_key
    elif client_cert == "self-signed":
        cert_file, key_file = _foreign_client_certificate(tmp_path)
        # The leaf alone, no issuer: as if self-made.
        leaf = x509.load_pem_x509_certificates(cert_file.read_bytes())[0]
        cert = tmp_path / "leaf-only.pem"
        cert.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
        key = key_file
    context = _client_context(sim.pki.trust_bundle, cert, key, tls12_only=tls12_only)
    kind, outcome = _exchange(context, sim.local.trader_port)
    assert kind in ("handshake", "exchange"), f"the trader listener answered: {outcome!r}"
    assert isinstance(outcome, ssl.SSLError | ConnectionError), outcome
    if tls12_only:
        assert kind == "handshake", f"expected the TLS 1.2 handshake to fail, got {kind}: {outcome!r}"
    assert sim.control.journal() == [], "a refused connection must not reach the application"


def _trader_https(sim: SimHandle) -> http.client.HTTPSConnection:
    files = sim.pki.trader("trader-a")
    context = _client_context(sim.pki.trust_bundle, files.tls_cert, files.tls_key)
    return http.client.HTTPSConnection("localhost", sim.local.trader_port, context=context, timeout=10)


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/_sim/health"), ("GET", "/_sim/journal"), ("GET", "/_sim/journal/stats"),
    ("GET", "/_sim/outbox"), ("GET", "/_sim/ics2/parties"), ("GET", "/_sim/ics2/ens"),
    ("POST", "/_sim/reset"), ("POST", "/_sim/clock/advance"),
])
def test_trader_listener_never_serves_the_control_api(sim: SimHandle, method: str, path: str) -> None:
    """DESIGN.md "control API" / simulator/control/views.py: the /_sim control and journal API is served
    on its own loopback listener only, never on the trader listener, even with the right bearer token."""
    ping = sim.client("trader-a").ping()
    assert ping.receipt
    before = sim.control.journal()
    conn = _trader_https(sim)
    try:
        body = json.dumps({"seconds": 86400, "parties": True}).encode() if method == "POST" else None
        conn.request(method, path, body=body, headers={"Authorization": f"Bearer {sim.control.token}",
                                                        "Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    assert response.status in (404, 405), (response.status, data[:300])
    for marker in (b'"entries"', b'"parties"', b'"messages"', b'"counts"', b'"ens"', b'"status"',
                   b'"clock"', b"sha256"):
        assert marker not in data, f"control data on the trader listener: {data[:300]!r}"
    # Nothing was reset or advanced behind the control API's back.
    assert sim.control.journal() == before
    assert sim.control.clock()["offset_seconds"] == 0
    assert len(sim.control.parties()) >= 2


def _status_without_token(url: str, method: str, authorization: str | None) -> int:
    data = b"{}" if method == "POST" else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if authorization is not None:
        request.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/_sim/journal"), ("GET", "/_sim/journal/stats"), ("GET", "/_sim/outbox"),
    ("GET", "/_sim/clock"), ("GET", "/_sim/ics2/parties"), ("GET", "/_sim/ics2/ens"),
    ("POST", "/_sim/reset"), ("POST", "/_sim/clock/advance"), ("POST", "/_sim/ics2/parties"),
])
def test_control_api_requires_the_bearer_token(sim: SimHandle, method: str, path: str) -> None:
    """DESIGN.md "control API": every /_sim call except health needs `Authorization: Bearer <token>`
    (the token generated at start into <var>/control-token); none, a wrong or a malformed one -> 401."""
    sim.client("trader-a").ping()
    before = sim.control.journal()
    token = sim.control.token
    url = sim.control.url + path
    for authorization in (None, "Bearer wrong-token", "Bearer ", f"Bearer {token}x", f"Basic {token}",
                          token, f"Bearer {token[:-1]}"):
        status = _status_without_token(url, method, authorization)
        assert status == 401, f"{method} {path} with Authorization={authorization!r} answered {status}"
    with pytest.raises(ControlError) as refused:
        SimControl(sim.control.url, "not-the-token").journal()
    assert refused.value.status == 401
    assert sim.control.journal() == before, "a refused call changed the scene"
    assert sim.control.clock()["offset_seconds"] == 0
