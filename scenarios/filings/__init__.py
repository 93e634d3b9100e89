"""Client-side builders of customs filings (what a trader's package would send).

These modules build payload XML from neutral business data with lxml and the standard library only:
they never import :mod:`simulator`, so the harness can drive a remote simulator (DESIGN.md
"Imports run one way").
"""

from __future__ import annotations
