"""Pushing a :class:`~.plotdata.Plot` into a plotly FigureWidget with as little traffic as
possible.

A FigureWidget sends every property change to the browser. When the traces are the same series
as last time (same types, names and axes), only their data changes, inside one
``batch_update()``: one message, with the numeric arrays as binary buffers, and plotly skips the
properties whose value did not change. When the series changed (a node appeared, another channel
is shown), the traces and the layout are replaced, which costs one full redraw.

Time goes to the browser as float milliseconds on ``type="date"`` axes, but plotly.js forgets an
axis type whenever a restyle changes trace data and infers it again from the first non-empty
trace of the axis (plotly.js#2144): numbers would make it linear. So each date axis gets a first,
invisible *anchor* trace holding two date strings (the span of its data): the axis stays a date
axis, and no update needs to touch the layout (setting ``xaxis.type`` would also reset a zoom).
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .plotdata import Plot

__all__ = ["Synced", "anchors"]

ANCHOR = "time axis"
"""Name of the anchor traces (hidden from the legend)."""


class Synced:
    """What a FigureWidget currently shows, to decide how to bring it to the next plot."""

    def __init__(self, fig: go.FigureWidget) -> None:
        self.fig = fig
        self._structure: tuple[tuple[Any, ...], ...] | None = None
        self._layout: dict[str, Any] | None = None
        self._shapes: list[dict[str, Any]] = []
        self._traces: list[dict[str, Any]] = []
        self.rebuilds = 0
        """How many times the traces had to be replaced (not just updated)."""

    @property
    def stale(self) -> bool:
        """Whether the next :meth:`show` replaces everything."""
        return self._structure is None

    def forget(self) -> None:
        """Make the next :meth:`show` replace traces and layout (another kind of plot)."""
        self._structure = None

    def show(self, plot: Plot) -> bool:
        """Bring the widget to ``plot``; return True when the layout was replaced (callbacks
        registered on the old layout object are gone then)."""
        plot = Plot([*anchors(plot), *plot.traces], plot.layout, plot.shapes, plot.meta)
        structure = plot.structure()
        if structure != self._structure:
            self._rebuild(plot)
            self._structure = structure
            return True
        with self.fig.batch_update():
            for trace, old, new in zip(self.fig.data, self._traces, plot.traces, strict=True):
                # plotly validates every property it is given: give it only what changed
                changed = {k: v for k, v in new.items() if not _same(v, old.get(k))}
                if changed:
                    trace.update(changed)
            if plot.layout != self._layout:
                self.fig.update_layout(plot.layout)
                self._layout = plot.layout
            if plot.shapes != self._shapes:
                self.fig.layout.shapes = plot.shapes
                self._shapes = plot.shapes
        self._traces = plot.traces
        return False

    def _rebuild(self, plot: Plot) -> None:
        self.rebuilds += 1
        fig = self.fig
        fig.data = ()
        fig.layout = go.Layout({**plot.layout, "shapes": plot.shapes})
        self._layout, self._shapes, self._traces = plot.layout, plot.shapes, plot.traces
        if plot.traces:
            fig.add_traces(plot.traces)
        _publish(fig)


def _publish(fig: go.FigureWidget) -> None:
    """Make the state a new view of ``fig`` starts from what it shows now.

    plotly.py sets that state (``_widget_data``, ``_widget_layout``) only when a figure is made
    or displayed by itself (``BaseFigureWidget._repr_mimebundle_``) and sends later changes as
    one-off messages. A view made after them (Voila shows widgets once the notebook ran; a page
    reloaded) of a figure inside another widget would start empty, then be sent restyles of
    traces it does not have. Done on rebuilds only: updates change data, not which traces.
    """
    fig._widget_data = deepcopy(fig._data)
    fig._widget_layout = deepcopy(fig._layout_obj._props)


def anchors(plot: Plot) -> list[dict[str, Any]]:
    """One anchor trace per date axis of ``plot``: the first and last time its traces show,
    as date strings, drawn as nothing."""
    out = []
    for name, axis in plot.layout.items():
        if not (name.startswith("xaxis") and isinstance(axis, dict)
                and axis.get("type") == "date"):
            continue
        ref = "x" + name[len("xaxis"):]
        xs = [np.asarray(t["x"], np.float64) for t in plot.traces
              if t.get("xaxis", "x") == ref and len(t.get("x", ()))]
        known = np.concatenate(xs) if xs else np.empty(0)
        known = known[np.isfinite(known)]
        ends = [] if not len(known) else [
            pd.Timestamp(int(v * 1e6)).strftime("%Y-%m-%d %H:%M:%S.%f")
            for v in (known.min(), known.max())
        ]
        out.append({
            "type": "scatter", "mode": "lines", "name": ANCHOR, "x": ends,
            "y": np.full(len(ends), np.nan), "xaxis": ref, "yaxis": "y" + ref[1:],
            "showlegend": False, "hoverinfo": "skip",
        })
    return out


def _same(a: Any, b: Any) -> bool:
    """Whether a trace property kept its value (arrays compared by content, NaN equal)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    return bool(a == b)
