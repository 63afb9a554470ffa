"""openagi-nb: a Jupyter toolkit for the event streams of an Open-A.G.I network.

Importing the package costs nothing and starts nothing: each public name is imported from its
module the first time it is used (``oa.load_capture`` loads pandas; ``oa.widgets.live_metrics``
loads plotly and ipywidgets). That also keeps the pytest plugin this package ships, which every
pytest run of its users loads, free.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ._lazy import attach

if TYPE_CHECKING:
    from . import analysis, widgets
    from ._oneline import generate, serve
    from .capture import Capture, Dataset, load_capture, open_dataset
    from .exceptions import (
        AuthenticationFailed,
        CaptureError,
        ConnectionFailed,
        InvalidMessage,
        InvalidToken,
        NotebookFailed,
        OpenAGIError,
        ProtocolError,
        ReportError,
        ScenarioError,
        ServerConfigError,
        StreamError,
        StreamTimeout,
        TokenRefused,
        TokenRequestFailed,
    )
    from .model import Channel, MessageType, Severity
    from .stream import EventStream, Gap, LiveFrame, State, StreamStats, fetch_token, record

__version__ = "0.1.0"

_EXCEPTIONS: Final = (
    "AuthenticationFailed", "CaptureError", "ConnectionFailed", "InvalidMessage", "InvalidToken",
    "NotebookFailed", "OpenAGIError", "ProtocolError", "ReportError", "ScenarioError",
    "ServerConfigError", "StreamError",
    "StreamTimeout", "TokenRefused", "TokenRequestFailed",
)
_HOMES: Final[dict[str, str]] = {
    "Capture": ".capture", "load_capture": ".capture", "Dataset": ".capture",
    "open_dataset": ".capture",
    "EventStream": ".stream", "Gap": ".stream", "LiveFrame": ".stream", "State": ".stream",
    "StreamStats": ".stream",
    "fetch_token": ".stream", "record": ".stream", "serve": "._oneline", "generate": "._oneline",
    "Channel": ".model", "MessageType": ".model", "Severity": ".model",
    **dict.fromkeys(_EXCEPTIONS, ".exceptions"),
}
_MODULES: Final = ("analysis", "widgets")

__all__ = [
    "AuthenticationFailed",
    "Capture",
    "CaptureError",
    "Channel",
    "ConnectionFailed",
    "Dataset",
    "EventStream",
    "Gap",
    "InvalidMessage",
    "InvalidToken",
    "LiveFrame",
    "MessageType",
    "NotebookFailed",
    "OpenAGIError",
    "ProtocolError",
    "ReportError",
    "ScenarioError",
    "ServerConfigError",
    "Severity",
    "State",
    "StreamError",
    "StreamStats",
    "StreamTimeout",
    "TokenRefused",
    "TokenRequestFailed",
    "__version__",
    "analysis",
    "fetch_token",
    "generate",
    "load_capture",
    "open_dataset",
    "record",
    "serve",
    "widgets",
]


__getattr__, __dir__ = attach(
    __name__, {**_HOMES, **{m: f".{m}" for m in _MODULES}}, __all__)
