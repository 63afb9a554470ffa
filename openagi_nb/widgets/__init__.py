"""Live plots, the dashboard and static figures (plotly, ipywidgets).

Importing this package is cheap: plotly and ipywidgets are imported by the submodules, the first
time one of these names is used::

    from . import dashboard, live_metrics, plot_metric

- live (``go.FigureWidget``, redrawn on the kernel's event loop): :func:`live_metrics`,
  :func:`live_security`, :func:`live_consensus`, :func:`live_network`;
- :func:`dashboard`: status line, a tab per channel, controls;
- static (``go.Figure``): :func:`plot_metric`, :func:`plot_breaches`,
  :func:`plot_security_timeline`, :func:`plot_top_sources`, :func:`plot_proposals`,
  :func:`plot_membership`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from .._lazy import attach

if TYPE_CHECKING:
    from .board import Dashboard, dashboard
    from .live import LiveFigure, live_consensus, live_metrics, live_network, live_security
    from .static import (
        plot_breaches,
        plot_membership,
        plot_metric,
        plot_proposals,
        plot_security_timeline,
        plot_top_sources,
    )

__all__ = [
    "Dashboard",
    "LiveFigure",
    "dashboard",
    "live_consensus",
    "live_metrics",
    "live_network",
    "live_security",
    "plot_breaches",
    "plot_membership",
    "plot_metric",
    "plot_proposals",
    "plot_security_timeline",
    "plot_top_sources",
]

_HOME: Final = {
    "Dashboard": ".board", "dashboard": ".board",  # not a module named like the function
    "LiveFigure": ".live", "live_consensus": ".live", "live_metrics": ".live",
    "live_network": ".live", "live_security": ".live",
    "plot_breaches": ".static", "plot_membership": ".static", "plot_metric": ".static",
    "plot_proposals": ".static", "plot_security_timeline": ".static",
    "plot_top_sources": ".static",
}


__getattr__, __dir__ = attach(__name__, _HOME, __all__)
