"""What a failed scenario says: its message, the step that failed, and where the fault is (an XPath, a
header or a certificate field), so that a report never says only "failed" (DESIGN.md "House style")."""

from __future__ import annotations

import re
from typing import Any

# What an assertion message points at. XPaths start at an ICS2 message root or a prefixed element
# (/IE3N99/..., /S12:Envelope/...), so file paths and URLs in a message are not mistaken for one.
_XPATH = re.compile(r"/(?:IE3[AFNQR]\d{2}|[A-Za-z][\w-]*:[A-Za-z][\w.-]*)(?:/[A-Za-z_][\w.:-]*(?:\[\d+\])?)*"
                    r"(?:/@[\w:-]+)?")
_HEADER = re.compile(r"\b(Content-Type|Content-ID|Content-Transfer-Encoding|SOAPAction|MIME-Version|"
                     r"Authorization|[A-Z][A-Za-z]+(?:-[A-Z][A-Za-z]+)+) header\b|\bheader '?([A-Za-z][\w-]+)")
_CERT = re.compile(r"\b(notBefore|notAfter|not[ -]yet[ -]valid|expired|revoked|untrusted|keyUsage|"
                   r"extendedKeyUsage|key usage|wrong-key-usage|subject|issuer|serialNumber|"
                   r"BinarySecurityToken|X509PKIPathv1|leaf-only)\b")


def locate(message: str) -> str | None:
    """The XPath, header or certificate field an assertion message names ("xpath:/IE3N99/...",
    "header:Content-Type", "certificate:notAfter"), or None."""
    if found := _XPATH.search(message):
        return f"xpath:{found.group(0)}"
    if found := _HEADER.search(message):
        return f"header:{found.group(1) or found.group(2)}"
    if found := _CERT.search(message):
        return f"certificate:{found.group(1)}"
    return None


def failure(message: str, step: tuple[str, str] | None) -> dict[str, Any]:
    message = message.strip()[:4000]
    return {"message": message, "step": step[1] if step else None, "keyword": step[0] if step else None,
            "where": locate(message)}
