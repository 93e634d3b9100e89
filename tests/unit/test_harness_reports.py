"""The conformance run's reports (scenarios/reports): Cucumber JSON for CI and the HTML report.

Both are rendered from a fabricated ``icssim-run/1`` record that holds every verdict, a FAILED
scenario with expected/received text, wire messages with raw base64 and payload XML, UTF-8 text and
values that must be escaped (``<``, ``&``, quotes, ``</script>``).
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
from pathlib import Path
from typing import Any

import lxml.html
import pytest

from scenarios.reports import CUCUMBER_FILE, HTML_FILE, read_run, render_html, write_reports
from scenarios.reports.evidence import MAX_SHOWN_BYTES, payload_text, raw_text

HOSTILE = 'Zürich \u2013 Łódź 貨物 <b>bold</b> & "quoted" \'single\' </script><script>alert(1)</script>'
FAILURE_TEXT = ("expected an IE3N99 with error code 100 at /IE3F32/GoodsShipment/GoodsItem[1]/commodity/"
                "harmonizedSystemSubHeadingCode, received an IE3N01 & no pointer")


def _payload(action: str, extra: str = "") -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<ie:{action} xmlns:ie="urn:icssim:test:{action}">'
            f"<ie:messageSender>EU0000000000001</ie:messageSender><ie:LRN>LRN-7</ie:LRN>"
            f"<ie:goodsItem><ie:description>{extra}</ie:description></ie:goodsItem></ie:{action}>")


def _raw(action: str, attachment: bytes) -> str:
    """A raw AS4 message: a SOAP part with the ebMS header and a gzip payload part (binary)."""
    head = ('Content-Type: multipart/related; boundary="MIMEBoundary_4711"; type="application/soap+xml"\r\n\r\n'
            "--MIMEBoundary_4711\r\nContent-Type: application/soap+xml; charset=UTF-8\r\n\r\n"
            '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Header><eb:Messaging '
            'xmlns:eb="http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/">'
            f"<eb:Action>{action}</eb:Action></eb:Messaging></env:Header><env:Body/></env:Envelope>\r\n"
            "--MIMEBoundary_4711\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    body = head + gzip.compress(attachment, mtime=0) + b"\r\n--MIMEBoundary_4711--\r\n"
    return base64.b64encode(body).decode("ascii")


def _wire(ident: int, direction: str, action: str, **extra: Any) -> dict[str, Any]:
    message = {"id": ident, "sim_at": f"2026-11-22T07:00:{ident:02d}Z", "direction": direction, "kind": "user",
               "verdict": "accepted", "action": action, "message_id": f"msg-{ident}@trader-a.test",
               "ref_to_message_id": None, "error_code": None, "detail": None,
               "raw_b64": _raw(action, _payload(action).encode()), "payload": _payload(action)}
    message.update(extra)
    return message


def _steps(*texts: str, status: str = "passed") -> list[dict[str, Any]]:
    return [{"keyword": text.split()[0], "text": text.split(" ", 1)[1], "status": status, "duration_s": 0.125}
            for text in texts]


def _scenario(ident: str, verdict: str, **extra: Any) -> dict[str, Any]:
    feature, slug = ident.split(":")
    scenario = {"id": ident, "feature": f"Feature {feature}", "file": f"features/ics2/{feature}.feature",
                "name": slug.replace("-", " ").capitalize(), "tags": ["ics2", "R1", f"req:ICS2-{slug}"],
                "releases": ["R1"], "verdict": verdict, "retried": False, "duration_s": 0.41,
                "requirements": [{"id": f"ICS2-{slug}", "strength": "MUST", "text": f"The trader handles {slug}.",
                                  "source": "ICD §4.2"}],
                "steps": _steps("Given a fresh simulator scene", "When the trader files an IE3F32"),
                "failure": None, "wire": []}
    scenario.update(extra)
    return scenario


def fabricated_run() -> dict[str, Any]:
    big = _wire(9, "in", "IE3F32", payload=None,
                raw_b64=base64.b64encode(b"X" * (MAX_SHOWN_BYTES + 5000)).decode("ascii"))
    scenarios = [
        _scenario("risk_outcomes:an-information-request-answered-by-ie3r02", "OK",
                  releases=["R1", "R2"], wire=[_wire(1, "in", "IE3F32"), _wire(2, "out", "IE3Q02"),
                                               _wire(3, "in", "IE3R02", ref_to_message_id="msg-2@sim.test")]),
        _scenario("r1_filing_rejected:an-ie3f32-with-a-malformed-hs-code-is-rejected", "FAILED",
                  name=f"Malformed HS code {HOSTILE}",
                  steps=[*_steps("When the trader files an IE3F32", "And the trader pulls its MPC"),
                         {"keyword": "Then", "text": 'it receives an "IE3N99" that refers to its filing',
                          "status": "failed", "duration_s": 1.5},
                         {"keyword": "And", "text": "the IE3N99 points at the HS code", "status": "skipped"}],
                  failure={"message": FAILURE_TEXT, "step": 'Then it receives an "IE3N99" that refers to its filing',
                           "where": "/IE3F32/GoodsShipment/GoodsItem[1]"},
                  wire=[_wire(4, "in", "IE3F32", payload=_payload("IE3F32", HOSTILE)),
                        _wire(5, "out", "IE3N01", verdict="rejected", error_code="EBMS:0004",
                              detail=f"wrong reply {HOSTILE}")]),
        _scenario("risk_outcomes:after-a-do-not-load-the-filer-amends-the-ens", "NON-STRICT", retried=True,
                  requirements=[{"id": "ICS2-dnl-amend", "strength": "SHOULD", "text": "Amend promptly & fully.",
                                 "source": "ICD §5"}],
                  failure={"message": "expected an amendment within 60 s, received one after 75 s", "step": None,
                           "where": None}, wire=[big]),
        _scenario("push_delivery:push-to-a-gateway-that-is-down", "UNIMPLEMENTED",
                  steps=_steps("Given the trader accepts pushed messages", status="skipped"),
                  failure={"message": "capability 'push' is declared unsupported", "step": None, "where": None}),
        _scenario("push_delivery:push-retries-are-spaced", "UNIMPLEMENTED", steps=[], releases=[]),
        _scenario("faults:the-trader-sees-the-ens-history", "INFORMATIONAL", requirements=[], tags=["ics2"]),
        {"id": "arrival_consultation:minimal-record", "feature": "Arrival consultation",
         "file": "features/ics2/arrival_consultation.feature", "name": "Minimal record", "verdict": "OK",
         "releases": ["R3"], "future_key": {"ignored": True}},
    ]
    return {"format": "icssim-run/1", "generator": "unknown keys are ignored",
            "suite": {"name": "icssim ICS2 conformance suite", "version": "0.3.0", "features_sha256": "ab" * 32,
                      "requirements_sha256": "cd" * 32},
            "product": {"name": "Acme <Cargo> & Co", "version": "5.1 \"beta\""}, "driver": "reference",
            "started": "2026-11-22T07:00:00Z", "finished": "2026-11-22T07:00:12Z",
            "selection": {"releases": ["R1"], "tags": [], "requirements": [], "scenarios": [], "exclude": ["slow"]},
            "capabilities": {"file": "capabilities/acme.toml", "unsupported": ["push"]},
            "summary": {"OK": 2, "NON-STRICT": 1, "FAILED": 1, "UNIMPLEMENTED": 2, "INFORMATIONAL": 1},
            "scenarios": scenarios}


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], list[dict[str, Any]], str]:
    out = tmp_path_factory.mktemp("reports") / "nested"
    paths = write_reports(fabricated_run(), out)
    return paths, json.loads(paths[0].read_text(encoding="utf-8")), paths[1].read_text(encoding="utf-8")


def _elements(features: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {element["name"]: element for feature in features for element in feature["elements"]}


# -- Cucumber JSON ------------------------------------------------------------------------------------
# The documented shape (Cucumber-JVM/Ruby JSON formatter, read by cucumber-reporting, Jenkins, Xray).
TAG = {"type": dict, "required": {"name": str}}
RESULT = {"type": dict, "required": {"status": str, "duration": int}, "optional": {"error_message": str}}
STEP = {"type": dict, "required": {"keyword": str, "name": str, "result": RESULT}, "optional": {"line": int}}
ELEMENT = {"type": dict, "required": {"id": str, "name": str, "keyword": str, "type": str, "description": str,
                                      "tags": [TAG], "steps": [STEP]}, "optional": {"line": int}}
FEATURE = {"type": dict, "required": {"uri": str, "id": str, "name": str, "keyword": str, "description": str,
                                      "tags": [TAG], "elements": [ELEMENT]}}


def conforms(value: Any, schema: Any, where: str = "$") -> list[str]:
    """Problems of ``value`` against the small schema language above (empty when it conforms)."""
    if isinstance(schema, list):
        if not isinstance(value, list):
            return [f"{where}: expected a list"]
        return [p for i, item in enumerate(value) for p in conforms(item, schema[0], f"{where}[{i}]")]
    if isinstance(schema, type):
        ok = isinstance(value, schema) and not (schema is int and isinstance(value, bool))
        return [] if ok else [f"{where}: expected {schema.__name__}, got {type(value).__name__}"]
    if not isinstance(value, dict):
        return [f"{where}: expected an object"]
    problems = [f"{where}: missing {key}" for key in schema["required"] if key not in value]
    for key, sub in {**schema["required"], **schema.get("optional", {})}.items():
        if key in value:
            problems += conforms(value[key], sub, f"{where}.{key}")
    return problems


def test_both_reports_are_written_and_returned(written: tuple[list[Path], Any, str]) -> None:
    paths, _, _ = written
    assert [p.name for p in paths] == [CUCUMBER_FILE, HTML_FILE]
    assert all(p.is_file() and p.parent.name == "nested" for p in paths)
    assert not [p for p in paths[0].parent.iterdir() if p.name.endswith(".tmp")]


def test_cucumber_json_has_the_documented_shape(written: tuple[list[Path], Any, str]) -> None:
    _, features, _ = written
    assert conforms(features, [FEATURE]) == []
    assert conforms([{"uri": 1}], [FEATURE])  # the checker itself can fail
    assert [f["uri"] for f in features] == ["features/ics2/risk_outcomes.feature",
                                            "features/ics2/r1_filing_rejected.feature",
                                            "features/ics2/push_delivery.feature", "features/ics2/faults.feature",
                                            "features/ics2/arrival_consultation.feature"]
    assert len(features[0]["elements"]) == 2  # both risk_outcomes scenarios under one feature
    for feature in features:
        assert feature["keyword"] == "Feature"
        for element in feature["elements"]:
            assert (element["keyword"], element["type"]) == ("Scenario", "scenario")
            assert element["id"].startswith(feature["id"] + ";")
            assert all(step["result"]["status"] in ("passed", "failed", "skipped") for step in element["steps"])
            assert all(step["keyword"].endswith(" ") for step in element["steps"])


def test_cucumber_tags_carry_releases_requirements_and_verdict(written: tuple[list[Path], Any, str]) -> None:
    _, features, _ = written
    element = _elements(features)["An information request answered by ie3r02"]
    tags = [tag["name"] for tag in element["tags"]]
    assert tags == ["@ics2", "@R1", "@req:ICS2-an-information-request-answered-by-ie3r02", "@R2", "@verdict:OK"]
    assert [t["name"] for t in features[0]["tags"]] == ["@ics2", "@R1"]  # shared by its scenarios


def test_cucumber_failed_step_carries_expected_and_received(written: tuple[list[Path], Any, str]) -> None:
    _, features, _ = written
    element = _elements(features)[f"Malformed HS code {HOSTILE}"]
    statuses = [step["result"]["status"] for step in element["steps"]]
    assert statuses == ["passed", "passed", "failed", "skipped"]
    failed = element["steps"][2]["result"]
    assert failed["error_message"].splitlines() == [
        FAILURE_TEXT, 'Step: Then it receives an "IE3N99" that refers to its filing',
        "Where: /IE3F32/GoodsShipment/GoodsItem[1]"]
    assert failed["duration"] == 1_500_000_000
    assert element["steps"][0]["result"]["duration"] == 125_000_000
    assert element["steps"][3]["result"]["duration"] == 0


def test_cucumber_unimplemented_is_skipped_and_non_strict_passes(written: tuple[list[Path], Any, str]) -> None:
    _, features, _ = written
    elements = _elements(features)
    for name in ("Push to a gateway that is down", "Push retries are spaced"):
        steps = elements[name]["steps"]
        assert steps and {step["result"]["status"] for step in steps} == {"skipped"}
        assert all("error_message" not in step["result"] for step in steps)
    assert "Not run: capability 'push' is declared unsupported" in elements["Push to a gateway that is down"][
        "description"]
    non_strict = elements["After a do not load the filer amends the ens"]
    assert {step["result"]["status"] for step in non_strict["steps"]} == {"passed"}
    assert non_strict["steps"][-1]["output"] == ["NON-STRICT: expected an amendment within 60 s, received one "
                                                 "after 75 s"]
    assert {"@verdict:NON-STRICT", "@retried"} <= {tag["name"] for tag in non_strict["tags"]}


def test_cucumber_failure_outside_any_step_gets_a_failed_step() -> None:
    run = fabricated_run()
    run["scenarios"][1]["failure"]["step"] = "a step that is not listed"
    for step in run["scenarios"][1]["steps"]:
        step["status"] = "passed"
    from scenarios.reports.cucumber import cucumber_features

    steps = _elements(cucumber_features(read_run(run)))[f"Malformed HS code {HOSTILE}"]["steps"]
    assert [s["result"]["status"] for s in steps] == ["passed"] * 4 + ["failed"]
    assert steps[-1]["result"]["error_message"].startswith(FAILURE_TEXT)


# -- HTML -----------------------------------------------------------------------------------------------
def test_html_parses_and_lists_every_scenario(written: tuple[list[Path], Any, str]) -> None:
    _, _, page = written
    doc = lxml.html.document_fromstring(page)
    articles = doc.xpath("//article[contains(@class, 'scenario')]")
    assert len(articles) == len(fabricated_run()["scenarios"])
    text = doc.text_content()
    for scenario in fabricated_run()["scenarios"]:
        assert scenario["id"] in text
    assert len({a.get("id") for a in articles}) == len(articles)


def test_html_counts_each_verdict(written: tuple[list[Path], Any, str]) -> None:
    _, _, page = written
    doc = lxml.html.document_fromstring(page)
    rows = {row.xpath("string(td[1])"): row.xpath("string(td[2])")
            for row in doc.xpath("//section[@id='summary']//tbody/tr")}
    assert rows == {"OK": "2", "NON-STRICT": "1", "FAILED": "1", "UNIMPLEMENTED": "2", "INFORMATIONAL": "1"}
    assert doc.xpath("string(//section[@id='summary']//tfoot//th[2])") == "7"
    r1 = doc.xpath("//section[@id='releases']//tbody/tr[th='R1']")[0].xpath("td/text()")
    assert r1 == ["1", "1", "1", "1", "1", "5"]
    assert "FAILED" in doc.xpath("string(//p[contains(@class, 'outcome')])")


def test_html_shows_the_failure_prominently(written: tuple[list[Path], Any, str]) -> None:
    _, _, page = written
    doc = lxml.html.document_fromstring(page)
    finding = doc.xpath("//article[contains(@class, 'v-failed')]//div[contains(@class, 'finding')]")[0]
    assert finding.xpath("string(pre)") == FAILURE_TEXT
    assert "/IE3F32/GoodsShipment/GoodsItem[1]" in finding.text_content()
    assert 'Then it receives an "IE3N99" that refers to its filing' in finding.text_content()
    assert doc.xpath("//article[contains(@class, 'v-non-strict')]//span[@class='retried']")


def test_html_requirements_table(written: tuple[list[Path], Any, str]) -> None:
    _, _, page = written
    doc = lxml.html.document_fromstring(page)
    row = doc.xpath("//section[@id='requirements']//tr[td/code='ICS2-dnl-amend']")[0]
    cells = [cell.text_content() for cell in row.xpath("td")]
    assert cells[0] == "NON-STRICT" and cells[2:5] == ["SHOULD", "Amend promptly & fully.", "ICD §5"]
    link = row.xpath(".//a/@href")[0]
    assert doc.xpath(f"//article[@id='{link[1:]}']")


def test_html_escapes_everything_and_loads_nothing(written: tuple[list[Path], Any, str]) -> None:
    _, _, page = written
    assert "</script>" not in page.lower() and "<script" not in page.lower()
    assert "<b>bold</b>" not in page
    doc = lxml.html.document_fromstring(page)
    assert not doc.xpath("//script") and not doc.xpath("//b[.='bold']")
    assert HOSTILE in doc.text_content()  # shown to the reader exactly as recorded
    assert "Acme <Cargo> & Co" in doc.xpath("string(//title)")
    links = doc.xpath("//@href | //@src | //@action | //@srcset")
    assert links and all(str(value).startswith("#") for value in links)
    style = doc.xpath("string(//style)")
    assert "url(" not in style and "@import" not in style
    assert "default-src 'none'" in doc.xpath("string(//meta[@http-equiv='Content-Security-Policy']/@content)")


def test_html_wire_evidence_is_decoded_and_bounded(written: tuple[list[Path], Any, str]) -> None:
    _, _, page = written
    doc = lxml.html.document_fromstring(page)
    ok = doc.xpath("//article[contains(@class, 'v-ok')]")[0]
    assert [r.xpath("string(td[5])") for r in ok.xpath(".//table[@class='wire']/tbody/tr[not(@class)]")] == [
        "IE3F32", "IE3Q02", "IE3R02"]
    summaries = [d.xpath("string(summary)") for d in ok.xpath(".//details")]
    assert summaries == ["Payload (XML, pretty-printed)", "Raw message (decoded from base64)"] * 3
    payload, raw = (d.xpath("string(pre)") for d in ok.xpath(".//details")[:2])
    assert "\n  <ie:messageSender>EU0000000000001</ie:messageSender>" in payload
    assert "--MIMEBoundary_4711" in raw and "<eb:Action>IE3F32</eb:Action>" in raw
    gzipped = len(gzip.compress(_payload("IE3F32").encode(), mtime=0))
    # HTML parsing reads CRLF as LF
    assert f"\n\n[{gzipped:,} bytes of binary content, not shown]\n--MIMEBoundary_4711--" in raw
    assert "1 binary MIME part(s)" in ok.xpath("string(.//details[2])")
    big = doc.xpath("//article[contains(@class, 'v-non-strict')]//details")[0]
    assert f"the first {MAX_SHOWN_BYTES:,} of {MAX_SHOWN_BYTES + 5000:,} bytes" in big.text_content()
    assert len(big.xpath("string(pre)")) == MAX_SHOWN_BYTES
    assert "No messages were journalled" in doc.xpath("string(//article[contains(@class, 'v-informational')])")


def test_html_header_names_the_run(written: tuple[list[Path], Any, str]) -> None:
    _, _, page = written
    doc = lxml.html.document_fromstring(page)
    meta = dict(zip(doc.xpath("//dl[@class='meta']/dt/text()"), (dd.text_content() for dd in
                                                                doc.xpath("//dl[@class='meta']/dd")), strict=True))
    assert meta["Product"] == "Acme <Cargo> & Co" and meta["Product version"] == '5.1 "beta"'
    assert meta["Suite version"] == "0.3.0" and meta["Driver"] == "reference"
    assert meta["Selection"] == "releases: R1; exclude: slow" and meta["Elapsed"] == "12 s"
    assert meta["Capability file"] == "capabilities/acme.toml" and meta["Declared unsupported"] == "push"


# -- determinism and tolerance -------------------------------------------------------------------------------
def test_reports_are_deterministic(tmp_path: Path) -> None:
    first = [p.read_bytes() for p in write_reports(fabricated_run(), tmp_path / "a")]
    second = [p.read_bytes() for p in write_reports(copy.deepcopy(fabricated_run()), tmp_path / "b")]
    assert first == second
    assert "Łódź".encode() in first[0] and "Łódź".encode() in first[1]


@pytest.mark.parametrize("record", [
    {},
    {"format": "icssim-run/1", "scenarios": [{"verdict": "non_strict"}, {"name": "x", "wire": None}]},
    {"scenarios": [{"id": "a:b", "steps": [{"text": "t", "duration_s": "NaN"}], "wire": [{"raw_b64": "%%"}],
                    "failure": "boom", "verdict": "SURPRISE", "requirements": ["REQ-1"]}], "summary": {"OK": 3}},
])
def test_sparse_or_odd_records_still_render(record: dict[str, Any], tmp_path: Path) -> None:
    paths = write_reports(record, tmp_path)
    assert isinstance(json.loads(paths[0].read_text(encoding="utf-8")), list)
    doc = lxml.html.document_fromstring(paths[1].read_text(encoding="utf-8"))
    assert len(doc.xpath("//article")) == len(record.get("scenarios", []))


def test_summary_that_disagrees_with_the_scenarios_is_flagged() -> None:
    run = fabricated_run()
    run["summary"]["FAILED"] = 0
    assert "does not match its scenario list (FAILED: 0 in the summary, 1 listed)" in render_html(read_run(run))


def test_evidence_helpers_refuse_to_expand_or_hide() -> None:
    bomb = '<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;&a;</x>'
    shown = payload_text(bomb)
    assert shown.text == bomb and "Shown as recorded" in shown.notes[0]
    assert "not valid base64" in raw_text("not base64!").notes[0]
    assert raw_text(base64.b64encode(b"a\x00b\x1bc").decode()).text == "a\u2400b\u241bc"
    binary = raw_text(base64.b64encode(b"\xff\xfe not multipart").decode())
    assert binary.text == "\ufffd\ufffd not multipart" and "not UTF-8" in binary.notes[-1]


def test_html_shows_the_exchanges_with_a_contract_driver_escaped() -> None:
    run = fabricated_run()
    run["driver"] = "command"
    run["scenarios"][0]["driver_log"] = [
        {"action": "file", "request": '{"action":"file","lrn":"<LRN1>"}', "response": '{"ok":true}',
         "stderr": "adapter: <sent>\n", "duration_s": 0.42},
        {"action": "poll", "request": '{"action":"poll"}', "error": "poll: no answer within 60 s", "duration_s": 60}]
    page = render_html(read_run(run))
    assert "Driver (2 exchanges)" in page
    assert "&lt;LRN1&gt;" in page and "<LRN1>" not in page
    assert "adapter: &lt;sent&gt;" in page and "poll: no answer within 60 s" in page and "0.42 s" in page
    assert "Driver (" not in render_html(read_run(fabricated_run())), "no driver section without exchanges"


def test_html_says_why_a_scenario_was_not_run() -> None:
    run = fabricated_run()
    [scenario] = [s for s in run["scenarios"] if s["id"] == "push_delivery:push-retries-are-spaced"]
    assert scenario["verdict"] == "UNIMPLEMENTED"
    scenario.pop("failure", None)
    scenario["unimplemented_because"] = "needs the reference client's injected client faults, which no package can"
    page = render_html(read_run(run))
    assert "Not run" in page and "needs the reference client&#x27;s injected client faults" in page
