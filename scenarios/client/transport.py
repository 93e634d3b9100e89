"""HTTPS transport of the reference client: mutual TLS on a persistent connection.

Verifies the simulator's server certificate against the test PKI's trust bundle and presents the
trader's TLS client certificate (domain/ics2.md, Transport: mandatory two-way TLS >= 1.2).
"""

from __future__ import annotations

import http.client
import ssl
import urllib.parse
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class HttpResponse:
    status: int
    content_type: str
    body: bytes


def client_tls_context(ca_file: Path, cert_file: Path, key_file: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert_file), str(key_file))
    return context


class MutualTlsTransport:
    """One keep-alive HTTPS connection; reconnects once when the server closed it. Not thread-safe."""

    def __init__(self, url: str, context: ssl.SSLContext, *, timeout: float = 30.0) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme != "https":
            raise ValueError(f"the trader endpoint must be https://, got {url!r}")
        self._host = parsed.hostname or "localhost"
        self._port = parsed.port or 443
        self._path = parsed.path or "/"
        self._context = context
        self._timeout = timeout
        self._conn: http.client.HTTPSConnection | None = None

    def _connection(self) -> http.client.HTTPSConnection:
        if self._conn is None:
            self._conn = http.client.HTTPSConnection(
                self._host, self._port, context=self._context, timeout=self._timeout)
        return self._conn

    def get(self) -> HttpResponse:
        return self._exchange("GET", None, {})

    def post(self, content_type: str, body: bytes) -> HttpResponse:
        return self._exchange("POST", body, {"Content-Type": content_type})

    def _exchange(self, method: str, body: bytes | None, headers: dict[str, str]) -> HttpResponse:
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, self._path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                return HttpResponse(response.status, response.getheader("Content-Type", ""), data)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
