"""Every analysis function on large frames, against naive baselines in the same run.

Frames are built column-wise with NumPy straight into the declared schema (``model.to_frame``),
not by parsing a million JSON messages: what is measured is the analysis. Sizes:

- 1,000,000 monitoring rows: 25 nodes x 8 metrics, a sample every 10 s, values crossing their
  threshold now and then, spikes, 0.1 % missing values; in time order as ``Capture.frame``
  gives them, and once shuffled;
- 500,000 security rows over ten days: a long tail of sources and two floods;
- about 240,000 consensus rows (40,000 proposals) and 20,000 network rows.

Target (issue 5): ``breaches`` and ``summary`` under 2 s each on the 1M monitoring rows.

Baselines are what one writes in a notebook without thinking of speed: a per-row loop over
``itertuples`` keeping each series' state in a dict (breaches), a per-event loop with a deque
(bursts), ``groupby`` with lambdas and ``apply`` (summary), ``rolling().apply`` of an exact MAD
(anomalies). Slow ones run on whole series of a few nodes and are scaled up linearly (their
cost is linear in rows); the subset's answer is checked against the fast function's.

    .venv/bin/python benchmarks/bench_analysis.py [--rows 1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from openagi_nb import analysis, model

T0 = pd.Timestamp("2026-01-05T09:00:00Z").value
S = 1_000_000_000
METRICS = ("cpu_usage", "memory_usage", "disk_usage", "network_latency_ms", "error_rate",
           "tx_rate", "peers", "queue_depth")
TARGET_S = 2.0


def frame(channel: str, columns: dict[str, Any]) -> pd.DataFrame:
    """A frame of ``channel`` from the given columns; the others all missing."""
    n = len(next(iter(columns.values())))
    data = [columns.get(c.name, np.full(n, None, dtype=object)) for c in model.columns(channel)]
    return model.to_frame(channel, data)


def monitoring(rows: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    nodes = np.array([f"node_{i:02d}" for i in range(1, 26)], dtype=object)
    series = len(nodes) * len(METRICS)
    steps = rows // series
    k = np.arange(steps * series)
    sid, step = k % series, k // series
    t = T0 + step * 10 * S + rng.integers(-150, 150, len(k)) * 1_000_000
    phase = rng.uniform(0, 2 * np.pi, series)[sid]
    period = rng.uniform(200, 2000, series)[sid]
    value = 64 + 17 * np.sin(2 * np.pi * step / period + phase) + rng.normal(0, 3, len(k))
    value[rng.random(len(k)) < 0.0005] += 35  # spikes
    value[rng.random(len(k)) < 0.001] = np.nan
    order = np.argsort(t, kind="stable")  # by time, as Capture.frame gives it
    sid, t, value = sid[order], t[order], value[order]
    return frame("monitoring_events", {
        "seq": k, "timestamp": t, "event": np.full(len(k), "metric_update", dtype=object),
        "node_id": nodes[sid % len(nodes)], "metric": np.array(METRICS, dtype=object)[sid // 25],
        "value": value, "threshold": np.full(len(k), 80.0), "status": np.full(len(k), "ok"),
    })


def security(rows: int, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ips = np.array([f"10.{i // 65536}.{i // 256 % 256}.{i % 256}" for i in range(20_000)],
                   dtype=object)
    source = np.minimum(rng.zipf(1.3, rows), len(ips)) - 1
    t = np.sort(T0 + rng.integers(0, 10 * 86_400 * S, rows))
    flood = min(3000, rows // 4)
    for start in (rows // 4, rows // 2):  # two floods of 3,000 events in about 2 minutes
        t[start:start + flood] = t[start] + np.sort(rng.integers(0, 120 * S, flood))
        source[start:start + flood] = rng.integers(0, 4, flood)
    t = np.sort(t)
    event = rng.choice(["intrusion_detected", "attack_blocked", "suspicious_activity",
                        "certificate_expired"], rows, p=[0.5, 0.35, 0.1499, 0.0001])
    attacks = np.array(["port_scan", "brute_force", "sql_injection", "xss", "ddos"], dtype=object)
    has_attack = np.isin(event, ["intrusion_detected", "attack_blocked"])
    return frame("security_events", {
        "seq": np.arange(rows), "timestamp": t, "event": event,
        "attack_type": np.where(has_attack, attacks[rng.integers(0, 5, rows)], None),
        "source_ip": np.where(event != "certificate_expired", ips[source], None),
        "blocked": np.where(event == "intrusion_detected", rng.random(rows) < 0.9, None),
        "severity": rng.choice(["low", "medium", "high", "critical"], rows,
                               p=[0.5, 0.3, 0.15, 0.05]),
        "node_id": np.where(event == "certificate_expired", "node_03", None),
        "expired_at": np.where(event == "certificate_expired", t - 60 * S, None),
    })


def consensus(proposals: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    submitted = T0 + np.sort(rng.integers(0, 86_400 * S, proposals))
    delays = np.cumsum(rng.integers(50, 900, (proposals, 5)) * 1_000_000, axis=1)
    done = rng.random(proposals) > 0.01
    parts = []
    ids = np.array([f"proposal_{i:06d}" for i in range(proposals)], dtype=object)
    parts.append({"event": "proposal_submitted", "t": submitted, "id": ids, "phase": None})
    for j, phase in enumerate(("pre_prepare", "prepare", "commit", "reply")):
        keep = done | (j < 2)
        parts.append({"event": "consensus_phase", "t": (submitted + delays[:, j])[keep],
                      "id": ids[keep], "phase": phase})
    parts.append({"event": "decision_executed", "t": (submitted + delays[:, 4])[done],
                  "id": ids[done], "phase": None})
    n = sum(len(p["t"]) for p in parts)
    cat = {k: np.concatenate([np.broadcast_to(np.asarray(p[k], dtype=object), len(p["t"]))
                              for p in parts]) for k in ("event", "id", "phase")}
    t = np.concatenate([p["t"] for p in parts])
    order = np.argsort(t, kind="stable")
    is_phase = cat["phase"] != None  # noqa: E711 - elementwise
    return frame("consensus_events", {
        "seq": np.arange(n), "timestamp": t[order], "event": cat["event"][order],
        "proposal_id": cat["id"][order], "phase": cat["phase"][order],
        "votes": np.where(is_phase, rng.integers(15, 25, n), None)[order],
        "quorum": np.where(is_phase, 17, None)[order],
        "view": np.where(is_phase, 3, None)[order],
        "data_parameter": np.where(cat["event"] == "proposal_submitted", "dropout", None)[order],
        "decision_parameter": np.where(cat["event"] == "decision_executed", "dropout",
                                       None)[order],
        "decision_value": np.where(cat["event"] == "decision_executed",
                                   rng.random(n), np.nan)[order].astype(float),
    })


def network(rows: int, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    nodes = np.array([f"node_{i:03d}" for i in range(500)], dtype=object)
    event = rng.choice(["node_joined", "node_left"], rows)
    return frame("network_events", {
        "seq": np.arange(rows), "timestamp": np.sort(T0 + rng.integers(0, 86_400 * S, rows)),
        "event": event, "node_id": nodes[rng.integers(0, 500, rows)],
        "reason": np.where(event == "node_left", "timeout", None),
    })


# --- naive baselines ----------------------------------------------------------------------


def naive_breaches(df: pd.DataFrame, for_: pd.Timedelta) -> list[tuple[Any, ...]]:
    """Row by row in time order, one state machine per (node, metric) in a dict."""
    rows = df[df["event"] == "metric_update"].dropna(subset=["value", "threshold"])
    rows = rows.sort_values(["timestamp", "seq"])
    state: dict[tuple[str, str], dict[str, Any]] = {}
    out = []
    for r in rows.itertuples(index=False):
        s = state.setdefault((r.node_id, r.metric), {"mode": "off"})
        if s["mode"] == "firing":
            if r.value <= r.threshold:
                out.append((r.node_id, r.metric, s["start"], s["end"], s["peak"]))
                s["mode"] = "off"
            else:
                s["end"], s["peak"] = r.timestamp, max(s["peak"], r.value)
            continue
        if r.value > r.threshold:
            if s["mode"] == "off":
                s.update(mode="pending", start=r.timestamp, peak=r.value)
            s["end"], s["peak"] = r.timestamp, max(s["peak"], r.value)
            if r.timestamp - s["start"] >= for_:
                s["mode"] = "firing"
        else:
            s["mode"] = "off"
    out += [(k[0], k[1], s["start"], s["end"], s["peak"]) for k, s in state.items()
            if s["mode"] == "firing"]
    return out


def naive_summary(df: pd.DataFrame) -> pd.DataFrame:
    rows = df[df["event"] == "metric_update"].dropna(subset=["value"])

    def share(g: pd.DataFrame) -> float:
        g = g.sort_values("timestamp")
        held = g["timestamp"].shift(-1) - g["timestamp"]
        above = g["value"] > g["threshold"]
        return float(held[above].sum() / held.sum())

    grouped = rows.groupby(["node_id", "metric"])
    out = grouped["value"].agg(["count", "mean", "max", lambda v: v.quantile(0.5),
                                lambda v: v.quantile(0.95), lambda v: v.quantile(0.99)])
    out["share_above"] = grouped[["timestamp", "value", "threshold"]].apply(share)
    return out


def naive_anomalies(df: pd.DataFrame) -> int:
    rows = df[df["event"] == "metric_update"].dropna(subset=["value"])
    found = 0
    for _, g in rows.groupby(["node_id", "metric"]):
        v = g.set_index("timestamp")["value"].sort_index()
        roll = v.rolling("5min", closed="left", min_periods=10)
        med = roll.median()
        mad = roll.apply(lambda w: np.median(np.abs(w - np.median(w))), raw=True)
        found += int(((v - med).abs() / (1.4826 * mad) >= 4).sum())
    return found


def naive_bursts(df: pd.DataFrame, window: pd.Timedelta, least: int) -> int:
    rows = df[df["event"].isin(["intrusion_detected", "attack_blocked"])]
    recent: deque[pd.Timestamp] = deque()
    bursts, hot = 0, False
    for stamp in rows["timestamp"].sort_values():
        recent.append(stamp)
        while recent[0] < stamp - window:
            recent.popleft()
        now = len(recent) >= least
        bursts += now and not hot
        hot = now
    return bursts


# --- running ------------------------------------------------------------------------------


def timed(fn: Callable[[], object], runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def subset(df: pd.DataFrame, fraction: float) -> pd.DataFrame:
    """Whole series (every sample of some nodes), so per-series answers stay comparable."""
    nodes = sorted(df["node_id"].dropna().unique())
    keep = nodes[: max(1, round(len(nodes) * fraction))]
    return df[df["node_id"].isin(keep)].reset_index(drop=True)


def report(
    name: str, rows: int, seconds: float, naive: float | None = None, note: str = ""
) -> None:
    rate = f"{rows / seconds / 1e6:6.2f} M rows/s"
    line = f"{name:<28}{rows:>10,} rows {seconds:8.3f} s  {rate}"
    if naive is not None:
        line += f"   naive {naive:9.1f} s  x{naive / seconds:,.0f}"
    print(line + (f"  {note}" if note else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    start = time.perf_counter()
    mon = monitoring(args.rows)
    sec = security(args.rows // 2)
    con = consensus(40_000)
    net = network(20_000)
    print(f"built frames in {time.perf_counter() - start:.1f} s: monitoring {len(mon):,}, "
          f"security {len(sec):,}, consensus {len(con):,}, network {len(net):,} rows\n")

    small = subset(mon, 0.08)  # 2 of 25 nodes
    scale = len(mon) / len(small)
    hold = pd.Timedelta("2min")

    t_breaches, found = timed(lambda: analysis.breaches(mon, for_="2min"), args.runs)
    t_naive, slow = timed(lambda: naive_breaches(small, hold), 1)
    fast_small = analysis.breaches(small, for_="2min")
    assert len(slow) == len(fast_small), (len(slow), len(fast_small))
    report("breaches(for_='2min')", len(mon), t_breaches, t_naive * scale,
           f"{len(found):,} episodes; naive on {len(small):,} rows x{scale:.1f}")
    t_clear, _ = timed(lambda: analysis.breaches(mon, for_="2min", clear=75.0), args.runs)
    report("breaches(clear=75)", len(mon), t_clear)
    shuffled = mon.sample(frac=1.0, random_state=5)
    t_shuffled, _ = timed(lambda: analysis.breaches(shuffled, for_="2min"), args.runs)
    report("breaches, rows shuffled", len(mon), t_shuffled)

    t_summary, _ = timed(lambda: analysis.summary(mon), args.runs)
    t_naive_summary, _ = timed(lambda: naive_summary(mon), 1)
    report("summary", len(mon), t_summary, t_naive_summary, "naive on all rows")

    t_resample, _ = timed(lambda: analysis.resample(mon, "1min"), args.runs)
    report("resample('1min')", len(mon), t_resample)

    t_anom, _ = timed(lambda: analysis.anomalies(mon), 1)
    tiny = subset(mon, 0.04)
    t_naive_anom, _ = timed(lambda: naive_anomalies(tiny), 1)
    report("anomalies('5min')", len(mon), t_anom, t_naive_anom * len(mon) / len(tiny),
           f"naive on {len(tiny):,} rows x{len(mon) / len(tiny):.0f}")

    t_bursts, hot = timed(lambda: analysis.bursts(sec), args.runs)
    t_naive_bursts, count = timed(lambda: naive_bursts(sec, pd.Timedelta("1min"), 100), 1)
    report("bursts", len(sec), t_bursts, t_naive_bursts,
           f"{len(hot)} bursts; the naive loop counts {count} hot stretches (it flickers at edges)")
    for name in ("top_sources", "unblocked", "timeline", "certificates", "audit"):
        report(name, len(sec), timed(lambda n=name: getattr(analysis, n)(sec), args.runs)[0])
    for name in ("proposals", "view_changes", "parameter_history", "phase_latencies",
                 "quorum_violations"):
        report(name, len(con), timed(lambda n=name: getattr(analysis, n)(con), args.runs)[0])
    for name in ("membership", "churn", "partitions"):
        report(name, len(net), timed(lambda n=name: getattr(analysis, n)(net), args.runs)[0])
    frames = {"monitoring_events": mon, "security_events": sec, "consensus_events": con,
              "network_events": net}
    total = sum(len(f) for f in frames.values())
    report("incidents (all channels)", total, timed(lambda: analysis.incidents(frames), 1)[0])

    print()
    for name, took in (("breaches", t_breaches), ("summary", t_summary)):
        verdict = "OK" if took < TARGET_S else "MISSED"
        print(f"target: {name} on {len(mon):,} rows under {TARGET_S:.0f} s: {took:.3f} s {verdict}")


if __name__ == "__main__":
    main()
