"""The security audit report: the tables of :func:`openagi_nb.analysis.security.audit`, rendered
as Markdown (for a notebook or a ticket) or as a standalone HTML fragment (for a browser or an
e-mail).

Rendering needs no extra dependency: pandas' own ``to_markdown`` would need ``tabulate``, and a
Markdown table is a few lines; HTML uses ``DataFrame.to_html``, which escapes the cells.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd

__all__ = ["AuditReport"]

TITLE: Final = "Security audit"
SECTIONS: Final = {
    "top_sources": "Top sources",
    "unblocked": "Unblocked intrusions",
    "bursts": "Bursts of attack traffic",
    "certificates": "Expired certificates",
    "timeline": "Timeline (bins with attacks)",
}


@dataclass(frozen=True)
class AuditReport:
    """What :func:`~openagi_nb.analysis.security.audit` found in a ``security_events`` frame.

    Attributes:
        start, end: the time span of the events (``None`` when there are none).
        events: how many events of each type.
        min_severity: the lowest severity ``unblocked`` reports.
        top_sources, unblocked, bursts, timeline, certificates: the tables of the functions of
            the same names.
    """

    start: pd.Timestamp | None
    end: pd.Timestamp | None
    events: dict[str, int]
    min_severity: str
    top_sources: pd.DataFrame = field(repr=False)
    unblocked: pd.DataFrame = field(repr=False)
    bursts: pd.DataFrame = field(repr=False)
    timeline: pd.DataFrame = field(repr=False)
    certificates: pd.DataFrame = field(repr=False)

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables by name, for exporting each one (``to_csv``...)."""
        return {name: getattr(self, name) for name in SECTIONS}

    def findings(self) -> list[str]:
        """One sentence per kind of finding, for the top of the report."""
        sources = self.top_sources
        lines = [
            f"Events: {sum(self.events.values())}, from {_when(self.start)} to "
            f"{_when(self.end)}",
            f"Unblocked intrusions ({self.min_severity} or above): {len(self.unblocked)}",
            f"Bursts of attack traffic: {len(self.bursts)}",
            f"Expired certificates: {len(self.certificates)}",
        ]
        if len(sources):
            top = sources.iloc[0]
            lines.append(f"Most active source: {top['source_ip']} ({top['events']} events)")
        return lines

    def to_markdown(self, max_rows: int = 50) -> str:
        """The report as Markdown: findings, then each table (at most ``max_rows`` rows each)."""
        parts = [f"# {TITLE}", "", *(f"- {_escape(line)}" for line in self.findings())]
        for name, heading in SECTIONS.items():
            table, note = _shown(self._display(name), max_rows)
            parts += ["", f"## {heading}", "", markdown_table(table)]
            if note:
                parts += ["", note]
        return "\n".join(parts) + "\n"

    def to_html(self, max_rows: int = 50) -> str:
        """The report as an HTML fragment (escaped), the same content as :meth:`to_markdown`."""
        items = "".join(f"<li>{html.escape(line)}</li>" for line in self.findings())
        parts = [f"<h1>{TITLE}</h1>", f"<ul>{items}</ul>"]
        for name, heading in SECTIONS.items():
            table, note = _shown(self._display(name), max_rows)
            parts.append(f"<h2>{html.escape(heading)}</h2>")
            parts.append(_flat(table).to_html(index=False, na_rep="", border=0,
                                              formatters=_formatters(table)))
            if note:
                parts.append(f"<p>{html.escape(note)}</p>")
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        return self.to_html()

    def _display(self, name: str) -> pd.DataFrame:
        table = self.tables[name]
        if name != "timeline":
            return table
        busy = table.loc[table.sum(axis=1) > 0] if len(table.columns) else table.iloc[:0]
        return busy.reset_index()


def _when(stamp: pd.Timestamp | None) -> str:
    return "-" if stamp is None or pd.isna(stamp) else _cell(stamp)


def _shown(table: pd.DataFrame, max_rows: int) -> tuple[pd.DataFrame, str]:
    if len(table) <= max_rows:
        return table, ""
    return table.head(max_rows), f"(first {max_rows} of {len(table)} rows)"


def _flat(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with one level of string column names (``ddos / high`` for a MultiIndex)."""
    columns: list[Any] = list(table.columns)
    names = [
        " / ".join(str(part) for part in col if str(part)) if isinstance(col, tuple) else str(col)
        for col in columns
    ]
    return table.set_axis(names, axis=1)


def _formatters(table: pd.DataFrame) -> dict[str, Any]:
    return dict.fromkeys(_flat(table).columns, _cell)


def _cell(value: Any) -> str:
    """One value as report text: blank for missing, ISO-like UTC times, 4 significant digits."""
    if isinstance(value, list | tuple | np.ndarray):
        return ", ".join(str(v) for v in value)
    if value is None or pd.isna(value):
        return ""
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M:%S") + ("Z" if value.tzinfo else "")
    if isinstance(value, pd.Timedelta):
        return str(value).replace("0 days ", "")
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def markdown_table(table: pd.DataFrame) -> str:
    """``table`` (without its index) as a GitHub-flavoured Markdown table."""
    flat = _flat(table)
    if not len(flat.columns):
        return "_none_"
    header = "| " + " | ".join(_escape(c) for c in flat.columns) + " |"
    rule = "|" + "|".join("---" for _ in flat.columns) + "|"
    # a per-row loop is fine: report tables are cut to ``max_rows`` before they get here
    body = [
        "| " + " | ".join(_escape(_cell(v)) for v in row) + " |"
        for row in flat.itertuples(index=False, name=None)
    ]
    return "\n".join([header, rule, *body]) if body else "\n".join([header, rule])


def _escape(text: str) -> str:
    """Cell text that can neither break the table nor inject HTML (Markdown renders HTML, and
    the cells hold what the network sent)."""
    return html.escape(text, quote=False).replace("|", "\\|").replace("\n", " ")
