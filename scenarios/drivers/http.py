"""The ``http`` driver: one POST per action to a controller the vendor runs (docs/driver-contract.md).

``POST <base_url>/<action>`` with the request JSON as the body; a 2xx answer carries the response JSON.
Anything else (another status, a redirect, no answer within the timeout, a body that is not contract
JSON) is a :class:`DriverError` with the status and the body, as evidence. urllib only: the harness
needs no HTTP library of its own.
"""

from __future__ import annotations

import http.client
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from scenarios.drivers.contract import Driver, DriverError, Request, Response, read_response, request_to_json


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect would turn the POST into a GET without the request: report it instead of following."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class HttpDriver(Driver):
    """Drives a system under test through its HTTP controller at ``base_url`` (e.g.
    ``http://127.0.0.1:9000/icssim``). ``timeout`` bounds one action in seconds; ``headers`` are sent with
    every request (e.g. an Authorization header); ``context`` verifies an https controller."""

    def __init__(self, base_url: str, *, timeout: float, headers: Mapping[str, str] | None = None,
                 context: ssl.SSLContext | None = None) -> None:
        scheme = urllib.parse.urlsplit(base_url).scheme
        if scheme not in ("http", "https"):
            raise ValueError(f"the controller URL must be http or https, got {base_url!r}")
        if timeout <= 0:
            raise ValueError(f"the timeout must be positive, got {timeout}")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.headers = dict(headers or {})
        handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
        if context is not None:
            handlers.append(urllib.request.HTTPSHandler(context=context))
        self._opener = urllib.request.build_opener(*handlers)

    def url(self, action: str) -> str:
        return f"{self.base_url}/{action}"

    def perform(self, request: Request) -> Response:
        action = request.action
        call = urllib.request.Request(  # noqa: S310 (the scheme is checked in __init__)
            self.url(action), data=request_to_json(request).encode("utf-8"), method="POST",
            headers={"Content-Type": "application/json", "Accept": "application/json", **self.headers})
        try:
            with self._opener.open(call, timeout=self.timeout) as answer:
                status, raw = answer.status, answer.read()
        except urllib.error.HTTPError as exc:
            body = exc.read().decode("utf-8", "replace")
            raise DriverError(action, f"the controller answered HTTP {exc.code} {exc.reason}", status=exc.code,
                              body=body) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise self._timeout(action) from None
            raise DriverError(action, f"cannot reach the controller at {self.url(action)}: {exc.reason}") from None
        except TimeoutError:
            raise self._timeout(action) from None
        except (OSError, http.client.HTTPException) as exc:
            raise DriverError(action, f"the exchange with {self.url(action)} broke off: {exc!r}") from None
        if not 200 <= status < 300:
            raise DriverError(action, f"the controller answered HTTP {status}", status=status,
                              body=raw.decode("utf-8", "replace"))
        return read_response(action, raw, status=status)

    def _timeout(self, action: str) -> DriverError:
        return DriverError(action, f"no answer from {self.url(action)} within {self.timeout:g} s")
