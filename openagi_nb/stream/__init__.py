"""The live stream: :class:`EventStream` and its parts.

A sans-I/O protocol session turns received bytes into events and the frames to send; a thin
transport thread only moves bytes; resume, reconnect and stats are plain bookkeeping; each
channel's rows land in a bounded :class:`LiveFrame` (read whole, or a time range as
:class:`Arrays`); :func:`record` writes a stream to a capture.
:func:`fetch_token` asks a server's token endpoint for a token.

Names load on first use: ``fetch_token`` does not import pandas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from .._lazy import attach

if TYPE_CHECKING:
    from ._arrays import Arrays
    from ._live_frame import LiveFrame, Window
    from ._record import record
    from ._resume import Gap
    from ._stats import State, StreamStats
    from ._stream import ALL, EventStream
    from ._token import fetch_token

_HOMES: Final = {
    "ALL": "._stream", "Arrays": "._arrays", "EventStream": "._stream", "Gap": "._resume",
    "LiveFrame": "._live_frame", "State": "._stats", "StreamStats": "._stats",
    "Window": "._live_frame", "fetch_token": "._token", "record": "._record",
}

__all__ = [
    "ALL", "Arrays", "EventStream", "Gap", "LiveFrame", "State", "StreamStats", "Window",
    "fetch_token", "record",
]

__getattr__, __dir__ = attach(__name__, _HOMES, __all__)
