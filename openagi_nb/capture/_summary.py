"""What ``openagi-nb inspect`` shows of a capture."""

from __future__ import annotations

from typing import Any, Final

from ._capture import Capture

__all__ = ["summarize"]

_DAMAGE: Final = r"^(?:[^:]*: )?(?:truncated|corrupt): "


def summarize(cap: Capture) -> dict[str, Any]:
    """What ``openagi-nb inspect`` shows: counts per channel and event, span, nodes, rejects."""
    events: dict[str, dict[str, int]] = {}
    starts, ends = [], []
    nodes: set[str] = set()
    for channel in cap.channels:
        df = cap.frames[channel]
        events[channel.value] = {
            str(k): int(v) for k, v in df["event"].value_counts(sort=False).items() if v
        }
        starts.append(df["timestamp"].min())
        ends.append(df["timestamp"].max())
        if "node_id" in df:
            nodes.update(df["node_id"].dropna().unique())
    return {
        "path": cap.path,
        "pieces": cap.pieces,
        "messages": len(cap),
        "events": events,
        "start": min(starts) if starts else None,
        "end": max(ends) if ends else None,
        "nodes": sorted(nodes),
        "rejects": len(cap.rejects),
        "control_messages": cap.control_messages,
        "first_rejects": _shown_rejects(cap),
    }


def _shown_rejects(cap: Capture) -> list[tuple[int, str]]:
    """The first five rejects, and the damage of cut or corrupt files wherever it is."""
    rejects = cap.rejects
    damage = rejects["reason"].str.contains(_DAMAGE, regex=True).fillna(False)
    shown = rejects[(rejects.index < 5) | damage.to_numpy(dtype=bool)]
    return [(int(line), str(reason))
            for line, reason in zip(shown["line"], shown["reason"], strict=True)]
