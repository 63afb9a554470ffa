"""Tests for openagi_nb.analysis.security and the AuditReport, on hand-built security frames."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from openagi_nb import model
from openagi_nb.analysis import AuditReport, security

from .events import Event, at
from .events import frame as events_frame

SEC = "security_events"


def frame(events: list[Event]) -> pd.DataFrame:
    """A security frame from ``(seconds, event, data)``, through the real protocol."""
    return events_frame(SEC, events)


def intrusion(sec: float, ip: str, attack: str = "sql_injection", severity: str = "high",
              blocked: bool | None = True) -> tuple[float, str, dict[str, Any]]:
    data: dict[str, Any] = {"attack_type": attack, "source_ip": ip, "severity": severity}
    if blocked is not None:
        data["blocked"] = blocked
    return sec, "intrusion_detected", data


def block(sec: float, ip: str, attack: str = "sql_injection", severity: str = "high"
          ) -> tuple[float, str, dict[str, Any]]:
    return sec, "attack_blocked", {"attack_type": attack, "source_ip": ip, "rule": "waf",
                                   "severity": severity}


def suspicious(sec: float, ip: str, severity: str = "medium") -> tuple[float, str, dict[str, Any]]:
    return sec, "suspicious_activity", {"source_ip": ip, "description": "probe",
                                        "severity": severity, "score": 0.5}


def cert(sec: float, node: str, expired: float, severity: str = "high"
         ) -> tuple[float, str, dict[str, Any]]:
    stamp = model.format_timestamp(at(expired).value)
    return sec, "certificate_expired", {"node_id": node, "expired_at": stamp, "severity": severity}


# --- top_sources --------------------------------------------------------------------------


def sources_frame() -> pd.DataFrame:
    return frame([
        intrusion(0, "1.1.1.1", "xss", "low"), block(0.1, "1.1.1.1", "xss", "low"),
        intrusion(5, "1.1.1.1", "sql_injection", "critical", blocked=False),
        suspicious(9, "1.1.1.1"),
        intrusion(3, "2.2.2.2", "port_scan", "low"), block(3.1, "2.2.2.2", "port_scan", "low"),
        suspicious(1, "3.3.3.3", "medium"),
    ])


def test_top_sources_counts_per_source():
    out = security.top_sources(sources_frame())
    assert list(out.columns) == ["source_ip", "events", "blocked", "unblocked", "attack_types",
                                 "max_severity", "first_seen", "last_seen"]
    first = out.iloc[0]
    assert (first["source_ip"], first["events"], first["blocked"], first["unblocked"]) == (
        "1.1.1.1", 4, 1, 1)
    assert first["attack_types"] == "sql_injection, xss"
    assert first["max_severity"] == "critical"
    assert (first["first_seen"], first["last_seen"]) == (at(0), at(9))


def test_top_sources_orders_by_events_then_most_recent_and_keeps_n():
    out = security.top_sources(sources_frame(), n=2)
    assert list(out["source_ip"]) == ["1.1.1.1", "2.2.2.2"]
    everything = security.top_sources(sources_frame(), n=None)
    assert list(everything["source_ip"]) == ["1.1.1.1", "2.2.2.2", "3.3.3.3"]
    assert pd.isna(everything["attack_types"].iloc[2])


def test_top_sources_max_severity_is_ordered():
    out = security.top_sources(sources_frame())
    assert out["max_severity"].cat.ordered
    assert list(out["max_severity"].cat.categories) == ["low", "medium", "high", "critical"]


def test_top_sources_empty_and_rows_without_source():
    assert security.top_sources(model.empty_frame(SEC)).empty
    only_cert = frame([cert(0, "n1", -60)])
    assert security.top_sources(only_cert).empty


# --- unblocked ----------------------------------------------------------------------------


def test_unblocked_keeps_unblocked_intrusions_at_or_above_severity():
    df = frame([
        intrusion(0, "a", severity="critical", blocked=False),
        intrusion(1, "b", severity="high", blocked=False),
        intrusion(2, "c", severity="medium", blocked=False),
        intrusion(3, "d", severity="critical", blocked=True),
        block(4, "e", severity="critical"),
    ])
    assert list(security.unblocked(df)["source_ip"]) == ["a", "b"]
    assert list(security.unblocked(df, "critical")["source_ip"]) == ["a"]
    assert list(security.unblocked(df, "low")["source_ip"]) == ["a", "b", "c"]


def test_unblocked_includes_intrusions_whose_blocked_flag_is_missing():
    df = frame([intrusion(0, "a", severity="high", blocked=None)])
    out = security.unblocked(df)
    assert list(out["source_ip"]) == ["a"]
    assert pd.isna(out["blocked"].iloc[0])


def test_unblocked_sorted_by_time_and_columns():
    df = frame([intrusion(9, "late", blocked=False), intrusion(1, "early", blocked=False)])
    out = security.unblocked(df)
    assert list(out.columns) == ["timestamp", "source_ip", "attack_type", "severity", "blocked"]
    assert list(out["source_ip"]) == ["early", "late"]


def test_unblocked_unknown_severity_raises():
    with pytest.raises(ValueError, match="unknown severity 'severe'"):
        security.unblocked(model.empty_frame(SEC), "severe")


# --- bursts -------------------------------------------------------------------------------


def background(until: float, every: float = 5.0) -> list[tuple[float, str, dict[str, Any]]]:
    return [intrusion(k * every, f"9.9.9.{k % 50}", "port_scan", "low")
            for k in range(int(until / every))]


def flood(start: float, count: int, length: float, ips: list[str]) -> list[Any]:
    return [intrusion(start + length * k / count, ips[k % len(ips)], "ddos", "high")
            for k in range(count)]


def test_bursts_finds_a_flood_with_its_own_start_and_end():
    df = frame(background(600) + flood(200.5, 300, 90.0, ["6.6.6.1", "6.6.6.2", "6.6.6.3"]))
    out = security.bursts(df, window="1min", min_events=100)
    assert list(out.columns) == ["start", "end", "events", "attack_type", "sources",
                                 "source_ips"]
    assert len(out) == 1
    burst = out.iloc[0]
    assert (burst["start"], burst["end"]) == (at(200.5), at(200.5 + 90.0 * 299 / 300))
    assert burst["attack_type"] == "ddos"
    assert burst["sources"] == 3
    assert burst["source_ips"] == "6.6.6.1, 6.6.6.2, 6.6.6.3"
    # the background events between the flood's first and last count too
    assert burst["events"] == 300 + 18


def test_bursts_background_alone_is_no_burst():
    assert security.bursts(frame(background(3600)), min_events=100).empty


def test_bursts_separate_floods_are_separate_bursts_and_unsorted_input_is_fine():
    events = flood(0, 150, 30.0, ["a"]) + flood(600, 150, 30.0, ["b"])
    out = security.bursts(frame(events[::-1]))
    assert list(out["source_ips"]) == ["a", "b"]
    assert list(out["events"]) == [150, 150]


def test_bursts_window_just_under_threshold_is_not_hot():
    assert security.bursts(frame(flood(0, 99, 10.0, ["a"]))).empty
    assert len(security.bursts(frame(flood(0, 100, 10.0, ["a"])))) == 1


def test_bursts_empty_and_bad_arguments():
    assert security.bursts(model.empty_frame(SEC)).empty
    with pytest.raises(ValueError, match="min_events"):
        security.bursts(model.empty_frame(SEC), min_events=0)
    with pytest.raises(ValueError, match="window"):
        security.bursts(model.empty_frame(SEC), window="nope")


# --- timeline -----------------------------------------------------------------------------


def test_timeline_counts_by_type_and_severity_per_bin():
    df = frame([
        intrusion(0, "a", "xss", "low"), block(10, "a", "xss", "low"),
        intrusion(20, "a", "xss", "high"), intrusion(130, "b", "ddos", "critical"),
        suspicious(30, "c"),
    ])
    out = security.timeline(df, "1min")
    assert list(out.index) == [at(0), at(60), at(120)]
    assert list(out.columns) == [("ddos", "critical"), ("xss", "low"), ("xss", "high")]
    assert out.to_numpy().tolist() == [[0, 2, 1], [0, 0, 0], [1, 0, 0]]


def test_timeline_empty():
    assert security.timeline(model.empty_frame(SEC)).empty


# --- certificates -------------------------------------------------------------------------


def test_certificates_one_row_per_node_and_expiry():
    df = frame([cert(100, "n2", 60), cert(30, "n1", 0, "medium"), cert(200, "n1", 0, "high")])
    out = security.certificates(df)
    assert list(out.columns) == ["node_id", "expired_at", "severity", "first_reported",
                                 "last_reported", "reports"]
    assert list(out["node_id"]) == ["n1", "n2"]
    n1 = out.iloc[0]
    assert (n1["expired_at"], n1["severity"], n1["first_reported"], n1["last_reported"],
            n1["reports"]) == (at(0), "high", at(30), at(200), 2)


def test_certificates_missing_expiry_sorts_last():
    df = frame([(5, "certificate_expired", {"node_id": "n9", "severity": "high"}),
                cert(10, "n1", 0)])
    out = security.certificates(df)
    assert list(out["node_id"]) == ["n1", "n9"]
    assert pd.isna(out["expired_at"].iloc[1])


# --- audit --------------------------------------------------------------------------------


def audit_frame() -> pd.DataFrame:
    return frame(background(300) + flood(100, 200, 50.0, ["6.6.6.6"]) + [
        intrusion(250, "7.7.7.7", "remote_code_execution", "critical", blocked=False),
        intrusion(255, "8.8.8.8", "rce|<b>", "high", blocked=False),
        cert(260, "node_03", 240),
    ])


def test_audit_holds_every_table():
    report = security.audit(audit_frame())
    assert isinstance(report, AuditReport)
    assert set(report.tables) == {"top_sources", "unblocked", "bursts", "timeline",
                                  "certificates"}
    assert list(report.unblocked["source_ip"]) == ["7.7.7.7", "8.8.8.8"]
    assert len(report.bursts) == 1
    assert report.events["intrusion_detected"] == 60 + 200 + 2
    assert (report.start, report.end) == (at(0), at(295))


def test_audit_markdown_has_findings_and_tables():
    text = security.audit(audit_frame()).to_markdown()
    assert text.startswith("# Security audit\n")
    assert "- Unblocked intrusions (high or above): 2" in text
    assert "| 7.7.7.7 | remote_code_execution | critical |" in text.replace(
        "| 2026-01-05 09:04:10Z | ", "| ")
    assert "| node_03 | 2026-01-05 09:04:00Z | high |" in text
    # a pipe cannot break the table, nor a tag reach the Markdown renderer as HTML
    assert "| rce\\|&lt;b&gt; |" in text
    assert "<b>" not in text


def test_audit_html_is_escaped_and_has_the_same_sections():
    page = security.audit(audit_frame()).to_html()
    for heading in ("Top sources", "Unblocked intrusions", "Bursts of attack traffic",
                    "Expired certificates", "Timeline"):
        assert heading in page
    assert "rce|&lt;b&gt;" in page
    assert "<b>" not in page


def test_audit_truncates_long_tables():
    text = security.audit(audit_frame()).to_markdown(max_rows=1)
    assert "(first 1 of " in text


def test_audit_of_an_empty_frame_renders():
    report = security.audit(model.empty_frame(SEC))
    assert report.start is None
    assert "- Events: 0, from - to -" in report.to_markdown()
    assert "<h1>Security audit</h1>" in report.to_html()
    assert np.all([t.empty for t in report.tables.values()])


def test_bad_frequency_and_count_raise():
    with pytest.raises(ValueError, match="freq: not a pandas frequency: 'often'"):
        security.timeline(model.empty_frame(SEC), "often")
    with pytest.raises(ValueError, match="n: expected a count"):
        security.top_sources(model.empty_frame(SEC), -1)
