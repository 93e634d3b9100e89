"""The load run's pass/fail gates (load/gates.py) and the release profile they are judged against."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from load.gates import (
    DEFAULT_MAX_FAIL_RATIO,
    DEFAULT_MAX_P95_MS,
    Reconciliation,
    ReplyTally,
    RunFigures,
    Thresholds,
    evaluate,
    is_loopback,
    merge_histograms,
    percentile,
    reconcile,
    tally_replies,
)
from load.replies import SentLog
from load.run_headless import seconds_of
from load.shapes import DEFAULT_PROFILE, ReleaseProfile


# -- thresholds from the environment ------------------------------------------------------------------
def test_thresholds_default_when_unset_or_empty() -> None:
    assert Thresholds.from_env({}) == Thresholds(DEFAULT_MAX_FAIL_RATIO, DEFAULT_MAX_P95_MS)
    assert Thresholds.from_env({"ICSSIM_MAX_FAIL_RATIO": " ", "ICSSIM_MAX_P95_MS": ""}) == Thresholds()
    assert (DEFAULT_MAX_FAIL_RATIO, DEFAULT_MAX_P95_MS) == (0.01, 500.0)


def test_thresholds_read_from_env() -> None:
    env = {"ICSSIM_MAX_FAIL_RATIO": "0.05", "ICSSIM_MAX_P95_MS": "250"}
    assert Thresholds.from_env(env) == Thresholds(max_fail_ratio=0.05, max_p95_ms=250.0)


@pytest.mark.parametrize(("name", "value"), [
    ("ICSSIM_MAX_FAIL_RATIO", "lots"), ("ICSSIM_MAX_FAIL_RATIO", "1.5"), ("ICSSIM_MAX_FAIL_RATIO", "-0.1"),
    ("ICSSIM_MAX_P95_MS", "-1"), ("ICSSIM_MAX_P95_MS", "nan"),
])
def test_thresholds_refuse_nonsense(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        Thresholds.from_env({name: value})


# -- percentile of Locust's histogram -----------------------------------------------------------------
def test_percentile_follows_locusts_rule() -> None:
    """1..100 ms once each: Locust reports 96 as the 95th percentile (at most 95 samples below it)."""
    histogram = {ms: 1 for ms in range(1, 101)}
    assert percentile(histogram, 0.95) == 96.0
    assert percentile(histogram, 0.5) == 51.0
    assert percentile(histogram, 0.0) == 1.0
    assert percentile(histogram, 1.0) == 100.0


def test_percentile_of_a_skewed_histogram() -> None:
    assert percentile({10: 94, 900: 6}, 0.95) == 900.0  # 6 % slow: the p95 is slow
    assert percentile({10: 96, 900: 4}, 0.95) == 10.0  # 4 % slow: the p95 is fast


def test_percentile_empty_and_bad_quantile() -> None:
    assert percentile({}, 0.95) is None
    with pytest.raises(ValueError, match="quantile"):
        percentile({1: 1}, 95)


def test_merge_histograms_adds_counts_per_bucket() -> None:
    assert merge_histograms([{10: 2, 20: 1}, {20: 3, 30: 1}, {}]) == {10: 2, 20: 4, 30: 1}


# -- the latency and failure gates --------------------------------------------------------------------
def test_a_clean_fast_run_passes() -> None:
    assert evaluate(RunFigures(requests=1000, failures=0, sends=900, send_p95_ms=120.0), Thresholds()) == []


def test_fail_ratio_gate_is_inclusive_at_the_limit() -> None:
    at_limit = RunFigures(requests=1000, failures=10, sends=900, send_p95_ms=100.0)
    over = RunFigures(requests=1000, failures=11, sends=900, send_p95_ms=100.0)
    assert evaluate(at_limit, Thresholds()) == []
    [violation] = evaluate(over, Thresholds())
    assert "fail ratio 0.0110" in violation
    assert "11 of 1000" in violation


def test_p95_gate() -> None:
    slow = RunFigures(requests=100, failures=0, sends=100, send_p95_ms=501.0)
    [violation] = evaluate(slow, Thresholds())
    assert "p95 of 'send' 501 ms exceeds 500 ms" in violation
    assert evaluate(slow, Thresholds(max_p95_ms=600)) == []


def test_a_run_without_filings_fails() -> None:
    violations = evaluate(RunFigures(requests=0, failures=0, sends=0, send_p95_ms=None), Thresholds())
    assert violations == ["no filing was sent, so the p95 of 'send' cannot be judged"]


def test_both_gates_can_fail_together() -> None:
    figures = RunFigures(requests=10, failures=5, sends=10, send_p95_ms=2000.0)
    assert len(evaluate(figures, Thresholds())) == 2
    assert figures.fail_ratio == 0.5


# -- exactly once -------------------------------------------------------------------------------------
def _rec(**changes: Any) -> Reconciliation:
    base: dict[str, Any] = {"receipts": 500, "registered": 500, "rejected": 0, "journaled": 500, "duplicates": 0}
    return Reconciliation(**(base | changes))


def test_exactly_once_holds() -> None:
    rec = _rec()
    assert reconcile(rec) == []
    assert (rec.lost, rec.duplicated) == (0, 0)


def test_receipted_but_unregistered_is_lost() -> None:
    rec = _rec(registered=497, journaled=497)
    assert rec.lost == 3
    problems = reconcile(rec)
    assert any("3 filing(s) answered with a receipt are not registered" in p for p in problems)


def test_registered_beyond_receipts_is_duplicated() -> None:
    rec = _rec(registered=502)
    assert rec.duplicated == 2
    assert any("2 registration(s) more than receipts" in p for p in reconcile(rec))


def test_journal_rejections_and_duplicates_are_reported() -> None:
    problems = reconcile(_rec(journaled=499, rejected=1, duplicates=4))
    assert any("499 filing(s) journaled" in p for p in problems)
    assert any("rejected with IE3N99" in p for p in problems)
    assert any("4 duplicate MessageId(s)" in p for p in problems)


# -- exactly one functional reply per filing ---------------------------------------------------------
def _reply(reply_id: str, ref: str | None, action: str = "IE3R01") -> dict[str, str | None]:
    return {"message_id": reply_id, "ref_to_message_id": ref, "action": action}


def test_every_receipted_filing_answered_once_passes() -> None:
    replies = [_reply("r1", "f1"), _reply("r2", "f2", "IE3N99"), _reply("r3", "f3", "IE3N01")]
    tally = tally_replies({"f1", "f2", "f3"}, set(), replies)
    assert tally == ReplyTally(expected=3, answered_once=3, lost=0, duplicated=0, extra=0)
    assert reconcile(_rec(receipts=3, registered=3, journaled=3, replies=tally)) == []


def test_a_receipted_filing_without_a_reply_is_lost() -> None:
    tally = tally_replies({"f1", "f2", "f3"}, set(), [_reply("r1", "f1")])
    assert (tally.expected, tally.answered_once, tally.lost, tally.duplicated) == (3, 1, 2, 0)
    assert tally.examples_lost == ("f2", "f3")
    problems = reconcile(_rec(receipts=3, registered=3, journaled=3, replies=tally))
    assert problems == ["2 receipted filing(s) without a functional reply (lost reply), e.g. f2, f3"]


def test_two_functional_replies_are_duplicated() -> None:
    replies = [_reply("r1", "f1"), _reply("r2", "f1", "IE3N01"), _reply("r3", "f1"), _reply("r4", "f2")]
    tally = tally_replies({"f1", "f2"}, set(), replies)
    assert (tally.answered_once, tally.lost, tally.duplicated, tally.extra) == (1, 0, 1, 2)
    [problem] = reconcile(_rec(receipts=2, registered=2, journaled=2, replies=tally))
    assert problem.startswith("1 filing(s) with two or more functional replies (2 extra")
    assert "e.g. f1" in problem


def test_a_redelivered_reply_counts_once_and_notices_do_not_count() -> None:
    """The same reply pulled twice (same MessageId: a redelivery) is one reply; IE3N02/IE3N11 notices
    and the carrier's copies carry no RefToMessageId, and non-functional actions are left out."""
    replies = [_reply("r1", "f1"), _reply("r1", "f1"), _reply("n1", None, "IE3N11"),
               _reply("n2", "f1", "IE3N02"), _reply("c1", None)]
    tally = tally_replies({"f1"}, set(), replies)
    assert (tally.answered_once, tally.lost, tally.duplicated) == (1, 0, 0)


def test_unreceipted_filings_may_lack_a_reply_but_not_have_two() -> None:
    """A filing refused at the ebMS level gets no functional reply; one whose receipt was lost on the
    way may have one; none may have two."""
    replies = [_reply("r1", "u1"), _reply("r2", "u2"), _reply("r3", "u2"), _reply("r4", "f1")]
    tally = tally_replies({"f1"}, {"u0", "u1", "u2"}, replies)
    assert (tally.expected, tally.lost, tally.duplicated) == (1, 0, 1)
    assert tally.examples_duplicated == ("u2",)


def test_replies_checked_for_other_filings_than_the_receipts_counted() -> None:
    tally = tally_replies({"f1"}, set(), [_reply("r1", "f1")])
    problems = reconcile(_rec(receipts=2, registered=2, journaled=2, replies=tally))
    assert problems == ["replies were checked for 1 receipted filing(s), but 2 receipt(s) counted"]


def test_sent_log_round_trip_over_processes(tmp_path: Path) -> None:
    first, second = tmp_path / "p0.json", tmp_path / "p1.json"
    SentLog.write(first, [("f1", True), ("f2", False)])
    SentLog.write(second, [("f3", True), ("f2", True)])  # resent elsewhere: receipted wins
    log = SentLog.read([first, second, tmp_path / "absent.json"])
    assert log.receipted == {"f1", "f2", "f3"}
    assert log.unreceipted == set()


# -- loopback only ------------------------------------------------------------------------------------
@pytest.mark.parametrize("url", ["https://localhost:8443", "https://127.0.0.1:1", "http://127.8.9.10/",
                                 "https://[::1]:8443/ics2/as4", "https://trader.localhost:8443"])
def test_loopback_targets_are_allowed(url: str) -> None:
    assert is_loopback(url)


@pytest.mark.parametrize("url", ["https://conformance.ics2.example.eu/as4", "https://10.0.0.5:8443",
                                 "https://[2001:db8::1]/", "not a url", "https://localhost.example.com/"])
def test_other_targets_are_refused(url: str) -> None:
    assert not is_loopback(url)


# -- the release profile and run-time syntax ----------------------------------------------------------
def test_r1_profile_matches_the_volume_anchor() -> None:
    profile = ReleaseProfile.load(DEFAULT_PROFILE)
    assert profile.release == "R1"
    assert {"trader-a", "trader-b"} <= set(profile.traders)
    assert round(profile.average_per_second) == 146  # 12.6 M items a day (domain/ics2.md, Releases)
    assert profile.peak_per_second > 2 * profile.average_per_second
    assert max(profile.filing_mix, key=profile.filing_mix.__getitem__) == "IE3F32"
    assert sum(profile.filing_mix.values()) == pytest.approx(1.0)
    counts = profile.presign_counts(1000)
    assert counts["IE3F32"] > counts["IE3F43"] > 0
    assert "1.00 x the R1 average" in profile.relative(profile.average_per_second)


def test_profile_refuses_unknown_filing_types(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"traders": ["trader-a"], "filing_mix": {"IE3F99": 1}}))
    with pytest.raises(ValueError, match="filing_mix"):
        ReleaseProfile.load(path)


def test_release_stages_go_average_peak_average() -> None:
    profile = ReleaseProfile.load(DEFAULT_PROFILE)
    stages = profile.release_stages(user_rate=5.0, stage_s=60)
    assert [s.until_s for s in stages] == [60, 120, 180]
    assert stages[0].users == stages[2].users < stages[1].users
    with pytest.raises(ValueError, match="ICSSIM_USER_RATE"):
        profile.release_stages(user_rate=0)


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("2m", 120), ("1h30m", 5400), ("45", 45)])
def test_run_time_syntax(text: str, seconds: float) -> None:
    assert seconds_of(text) == seconds


def test_run_time_syntax_refuses_garbage() -> None:
    with pytest.raises(ValueError, match="run time"):
        seconds_of("soon")


def test_suite_counts_come_from_the_junit_report(tmp_path: Path) -> None:
    from load.bench_suite import junit_counts

    wrapped = tmp_path / "a.xml"
    wrapped.write_text('<testsuites><testsuite tests="30" failures="1" errors="1"/>'
                       '<testsuite tests="8" failures="0" errors="0"/></testsuites>')
    single = tmp_path / "b.xml"
    single.write_text('<testsuite tests="38" failures="0" errors="0"/>')
    assert junit_counts(wrapped) == (38, 2)
    assert junit_counts(single) == (38, 0)
