"""openagi-nb: a Jupyter toolkit for the event streams of an Open-A.G.I network.

Importing the package is cheap: it starts nothing and does not import plotly or the widgets.
"""

from __future__ import annotations

from . import analysis
from .capture import Capture, load_capture
from .exceptions import (
    AuthenticationFailed,
    CaptureError,
    ConnectionFailed,
    InvalidMessage,
    OpenAGIError,
    ServerConfigError,
    StreamError,
)
from .schema import Channel, MessageType, Severity

__version__ = "0.1.0"

__all__ = [
    "AuthenticationFailed",
    "Capture",
    "CaptureError",
    "Channel",
    "ConnectionFailed",
    "InvalidMessage",
    "MessageType",
    "OpenAGIError",
    "ServerConfigError",
    "Severity",
    "StreamError",
    "__version__",
    "analysis",
    "load_capture",
]
