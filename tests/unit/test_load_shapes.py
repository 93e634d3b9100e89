"""Release profiles (load/data/r1.json, r2.json, r3.json), load shapes and pre-signed filings of every release.

domain/ics2.md "Releases": the scopes of R1/R2/R3 and the R1 volume anchor; R2 and R3 carry illustrative,
documented volumes. A filing of R2 or R3 travels under AgreementRef EU-ICS2-TI-V2.0, R1 under V1.0.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from certs.pki import init_test_pki
from load.bench_mixed import complete_kinds, mixed_specs
from load.presign import FilingSpec, presign_mix, sign_unit, unit_payloads
from load.shapes import HOURS, RELEASES, SET_KINDS, PayloadSpec, ReleaseProfile, members_of, profile_path
from scenarios.filings.ics2 import ALL_FILING_IDS, MESSAGE_IDS
from scenarios.pki import PkiFiles
from simulator.codecs.as4 import constants as as4c
from simulator.codecs.as4.message import unpack

# domain/ics2.md "Releases": the filings each release brings
R2_SCOPE = {f"IE3F{n}" for n in range(20, 34)} | {"IE3F42"}
R3_SCOPE = {f"IE3F{n}" for n in range(10, 18)} | {"IE3F34", "IE3F40", "IE3F41", "IE3F45", "IE3F50", "IE3F51"}
SCOPES: dict[str, set[str]] = {"r1": set(MESSAGE_IDS), "r2": R2_SCOPE, "r3": R3_SCOPE}


def _profile(release: str) -> ReleaseProfile:
    return ReleaseProfile.load(RELEASES[release])


# -- the three profile files --------------------------------------------------------------------------
@pytest.mark.parametrize("release", list(RELEASES))
def test_profile_loads_and_its_mix_sums_to_one(release: str) -> None:
    profile = _profile(release)
    assert profile.release == release.upper()
    assert sum(profile.filing_mix.values()) == pytest.approx(1.0)
    raw = json.loads(RELEASES[release].read_text(encoding="utf-8"))["filing_mix"]
    assert sum(raw.values()) == pytest.approx(1.0)  # the file itself, not only after loading


@pytest.mark.parametrize("release", list(RELEASES))
def test_filing_ids_are_valid_and_in_the_release_scope(release: str) -> None:
    profile = _profile(release)
    for kind in profile.filing_mix:
        for member in members_of(kind):
            assert member in ALL_FILING_IDS
            assert member in SCOPES[release], f"{member} is not a {release.upper()} filing"


@pytest.mark.parametrize("release", list(RELEASES))
def test_daily_curve_averages_one_and_peaks_at_the_peak_factor(release: str) -> None:
    profile = _profile(release)
    curve = profile.daily_curve
    assert len(curve) == HOURS
    assert min(curve) > 0
    assert sum(curve) / HOURS == pytest.approx(1.0, abs=1e-3)
    assert max(curve) == pytest.approx(profile.peak_factor)


@pytest.mark.parametrize(("release", "agreement"), [("r1", as4c.AGREEMENT_V1), ("r2", as4c.AGREEMENT_V2),
                                                    ("r3", as4c.AGREEMENT_V2)])
def test_agreement_per_release(release: str, agreement: str) -> None:
    assert _profile(release).agreement == agreement


def test_r2_and_r3_volumes_are_illustrative_and_derived() -> None:
    for release in ("r2", "r3"):
        data = json.loads(RELEASES[release].read_text(encoding="utf-8"))
        assert data["volume"]["official"] is False
        assert "illustrative" in data["volume"]["source"]
        assert "illustrative" in data["mix_note"].lower()
    r2, r3 = _profile("r2"), _profile("r3")
    assert r2.average_per_second == pytest.approx(13_860_000 / 8 / 86_400)  # ~20/s
    assert r3.average_per_second == pytest.approx(1_890_000 / 8 / 86_400)  # ~2.7/s
    assert r2.payload == r3.payload == PayloadSpec(10_000, 50_000, 5, 2, 14, 2)
    assert r2.payload is not None and r2.payload.targets == (10_000, 20_000, 30_000, 40_000, 50_000)
    assert _profile("r1").payload is None  # R1 samples as they are


def test_profile_path_by_release_name_or_file(tmp_path: Path) -> None:
    assert profile_path("r2") == profile_path(" R2 ") == RELEASES["r2"]
    assert profile_path(str(tmp_path / "mine.json")) == tmp_path / "mine.json"


def test_partial_sets_count_their_filings() -> None:
    assert SET_KINDS["IE3F21+IE3F22"] == ("air-master-house", ("IE3F21", "IE3F22"))
    r2 = _profile("r2")
    assert r2.unit_size("IE3F20") == 1
    assert r2.unit_size("IE3F21+IE3F22") == 3  # the master level and two house filings
    assert r2.filings_per_unit == pytest.approx(0.85 + 0.15 * 3)
    counts = r2.presign_counts(100)
    assert counts["IE3F20"] == 25
    assert counts["IE3F21+IE3F22"] == 15


# -- refusing bad profiles ----------------------------------------------------------------------------
def _write(tmp_path: Path, **changes: Any) -> Path:
    data = json.loads(RELEASES["r2"].read_text(encoding="utf-8"))
    for key, value in changes.items():  # volume and payload change in part; anything else is replaced
        data[key] = data[key] | value if key in ("volume", "payload") else value
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(("changes", "message"), [
    ({"filing_mix": {"IE3F20": 0.5, "IE3F30": 0.3}}, "sum to 0.8"),
    ({"filing_mix": {"IE3F20": 0.5, "IE3F99+IE3F22": 0.5}}, "unknown: IE3F99"),
    ({"agreement": as4c.AGREEMENT_V1}, "need EU-ICS2-TI-V2.0"),
    ({"agreement": "EU-ICS2-TI-V9"}, "'agreement'"),
    ({"daily_curve": {"hourly_factors": [1.0] * 23}}, "24 positive"),
    ({"daily_curve": {"hourly_factors": [1.1] * 24}}, "average 1.1"),
    ({"daily_curve": {"hourly_factors": [1.0] * 24}}, "not at the peak factor 3.5"),
    ({"payload": {"min_bytes": 5_000, "max_bytes": 50_000}}, "'payload'"),
    ({"volume": {"peak_factor": 0.5}}, "peak_factor"),
])
def test_profile_refuses(tmp_path: Path, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ReleaseProfile.load(_write(tmp_path, **changes))


# -- shapes -------------------------------------------------------------------------------------------
def test_daily_stages_follow_the_curve_compressed_in_time() -> None:
    profile = _profile("r1")
    stages = profile.daily_stages(user_rate=5.0, day_s=240.0, scale=0.1)
    assert len(stages) == HOURS
    assert [s.until_s for s in stages] == pytest.approx([10.0 * (h + 1) for h in range(HOURS)])
    peak_hour = profile.daily_curve.index(max(profile.daily_curve))
    assert max(stages, key=lambda s: s.users) is stages[peak_hour]
    rate = profile.average_per_second * profile.peak_factor * 0.1  # ~58 filings/s at the peak hour
    assert stages[peak_hour].users == profile.users_for(rate, 5.0)
    assert all(s.spawn_rate >= 1 for s in stages)
    quiet = min(stages, key=lambda s: s.users)
    assert quiet.users < stages[peak_hour].users


def test_daily_stages_need_a_user_rate_and_a_curve(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ICSSIM_USER_RATE"):
        _profile("r2").daily_stages(user_rate=0)
    path = tmp_path / "flat.json"
    path.write_text(json.dumps({"traders": ["trader-a"], "filing_mix": {"IE3F32": 1.0}}), encoding="utf-8")
    with pytest.raises(ValueError, match="daily_curve"):
        ReleaseProfile.load(path).daily_stages(user_rate=1.0)


def test_users_for_counts_the_filings_of_a_unit() -> None:
    r2 = _profile("r2")
    # 10/11 of the tasks send, a send files 1.3 filings on average: 2.6 users for 26 filings/s at 10 tasks/s
    assert r2.users_for(26.0, 10.0) == 3
    assert r2.users_for(0.01, 10.0) == 1


# -- built and signed filings -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PkiFiles:
    directory = tmp_path_factory.mktemp("load-pki") / "pki"
    init_test_pki(directory)
    return PkiFiles.load(directory)


def test_presign_signs_an_r2_filing_under_agreement_v2(pki: PkiFiles) -> None:
    profile = _profile("r2")
    [filing] = sign_unit(pki.trader("trader-a"), FilingSpec.of("IE3F20", profile), "RUNAB1", 2)
    message = unpack(filing.content_type, filing.body)  # checks the signature and the payload digests
    assert message.kind == "user" and message.user_message is not None
    assert message.user_message.agreement_ref == as4c.AGREEMENT_V2
    assert message.user_message.agreement_type == as4c.AGREEMENT_TYPE
    assert message.user_message.action == filing.action == "IE3F20"
    assert message.signature is not None and filing.references
    payload = message.payloads[0].content
    assert len(payload) == filing.payload_bytes
    assert abs(filing.payload_bytes - 30_000) <= 3_000  # index 2 -> the 30 KB target, +/- 10 %
    assert len(etree.fromstring(payload).findall(".//consignmentHouseLevel")) >= 2


def test_presign_keeps_release_1_under_agreement_v1(pki: PkiFiles) -> None:
    [filing] = sign_unit(pki.trader("trader-b"), FilingSpec.of("IE3F32", _profile("r1")), "RUNAB2", 0)
    message = unpack(filing.content_type, filing.body)
    assert message.user_message is not None and message.user_message.agreement_ref == as4c.AGREEMENT_V1
    assert FilingSpec.of("IE3F11").agreement == as4c.AGREEMENT_V2  # default by filing type


def test_a_partial_set_is_one_unit_of_linked_filings(pki: PkiFiles) -> None:
    unit = sign_unit(pki.trader("trader-a"), FilingSpec.of("IE3F12+IE3F15", _profile("r3")), "RUNAB3", 7)
    assert [f.action for f in unit] == ["IE3F12", "IE3F15", "IE3F15"]
    assert len({f.message_id for f in unit}) == len({f.lrn for f in unit}) == 3
    masters = {etree.fromstring(unpack(f.content_type, f.body).payloads[0].content)
               .findtext(".//transportDocumentMasterLevel/documentNumber") for f in unit}
    assert len(masters) == 1  # linked by the master transport document


@pytest.mark.parametrize("release", ["r2", "r3"])
def test_complete_filings_reach_every_size_with_their_houses(release: str) -> None:
    """Each unit has its own master document, and the sizes span the payload range."""
    profile = _profile(release)
    assert profile.payload is not None
    for kind in profile.filing_mix:
        if kind in SET_KINDS:
            continue
        spec = FilingSpec.of(kind, profile)
        masters = set()
        for index, target in enumerate(profile.payload.targets):
            [(action, lrn, payload)] = unit_payloads(spec, stem="SIZE01", index=index, eori="BE0123456789")
            assert action == kind and len(lrn) <= 22
            assert abs(len(payload) - target) <= 0.1 * target, (kind, target, len(payload))
            root = etree.fromstring(payload)
            masters.add(root.findtext(".//transportDocumentMasterLevel/documentNumber"))
            houses = len(root.findall(".//consignmentHouseLevel"))
            if houses:  # straight bills carry their goods at master level
                assert profile.payload.houses_min <= houses <= profile.payload.houses_max
        assert len(masters) == len(profile.payload.targets)


def test_mixed_bench_draws_complete_r2_and_r3_filings(pki: PkiFiles) -> None:
    specs = mixed_specs()
    assert sum(specs.values()) == pytest.approx(1.0)
    kinds = {spec.kind for spec in specs}
    assert kinds == {"IE3F20", "IE3F27", "IE3F30", "IE3F31", "IE3F11", "IE3F50", "IE3F51"}
    assert all(spec.agreement == as4c.AGREEMENT_V2 and spec.payload is not None for spec in specs)
    assert sum(complete_kinds(_profile("r3")).values()) == pytest.approx(1.0)
    filings = presign_mix(pki, ("trader-a", "trader-b"), 6, specs, processes=1)
    assert [f.trader for f in filings] == ["trader-a", "trader-b"] * 3  # index i -> traders[i % 2]
    assert len({f.message_id for f in filings}) == 6
    assert all(f.action in kinds and 9_000 <= f.payload_bytes <= 55_000 for f in filings)
