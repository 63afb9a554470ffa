"""openagi-nb: a Jupyter toolkit for the event streams of an Open-A.G.I network.

Importing the package is cheap: it starts nothing and does not import plotly, ipywidgets or
aiohttp. The live plots and the dashboard are in :mod:`openagi_nb.widgets` (``oa.widgets``,
imported on first use), the replay server in :mod:`openagi_nb.server`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from . import analysis
from .auth import fetch_token
from .capture import Capture, load_capture
from .client import EventStream, StreamStats
from .exceptions import (
    AuthenticationFailed,
    CaptureError,
    ConnectionFailed,
    InvalidMessage,
    OpenAGIError,
    ServerConfigError,
    StreamError,
    StreamTimeout,
)
from .frames import LiveFrame
from .schema import Channel, MessageType, Severity

__version__ = "0.1.0"

__all__ = [
    "AuthenticationFailed",
    "Capture",
    "CaptureError",
    "Channel",
    "ConnectionFailed",
    "EventStream",
    "InvalidMessage",
    "LiveFrame",
    "MessageType",
    "OpenAGIError",
    "ServerConfigError",
    "Severity",
    "StreamError",
    "StreamStats",
    "StreamTimeout",
    "__version__",
    "analysis",
    "fetch_token",
    "load_capture",
    "widgets",
]


def __getattr__(name: str) -> ModuleType:
    if name == "widgets":  # plotly and ipywidgets load only when a plot is asked for
        return importlib.import_module(".widgets", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
