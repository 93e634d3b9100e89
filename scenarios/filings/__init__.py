"""Client-side builders of customs filings (what a trader's package would send).

These modules build payload XML from neutral business data with lxml and the standard library only:
they never import :mod:`simulator`, so the harness can drive a remote simulator (DESIGN.md
"Imports run one way").

ICS2 (domain/ics2.md "Messages"): ``ics2`` builds every ENS filing (IE3Fxx), amendment (IE3Axx) and the
invalidation request; ``ics2_bodies`` the Release 2/3 filing bodies; ``ics2_samples`` valid sample data
for every filing; ``ics2_sets`` linked partial filings that complete one ENS and filings of a chosen size;
``ics2_messages`` the arrival notification, consultation and the RFI / HRCM screening answers.
"""

from __future__ import annotations
