"""Pages and reports for people who do not write the plumbing.

- :func:`dashboard`: the live dashboard as a standalone web page, served by Voila (``openagi-nb
  dashboard URL``);
- :func:`report`: a notebook executed on a capture by papermill, written by nbconvert as one
  self-contained HTML file without code (``openagi-nb report CAPTURE``).

Voila, papermill and nbconvert are the ``pages`` extra; they are imported when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from .._lazy import attach

if TYPE_CHECKING:
    from ._dashboard import DashboardPage, dashboard
    from ._report import REPORTS, report

__all__ = ["DashboardPage", "REPORTS", "dashboard", "report"]

_HOME: Final = {
    "DashboardPage": "._dashboard", "dashboard": "._dashboard",
    "REPORTS": "._report", "report": "._report",
}

__getattr__, __dir__ = attach(__name__, _HOME, __all__)
