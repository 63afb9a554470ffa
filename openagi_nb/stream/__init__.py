"""The live stream: :class:`EventStream` and its parts.

A sans-I/O protocol session turns received bytes into events and the frames to send; a thin
transport thread only moves bytes; resume, reconnect and stats are plain bookkeeping; each
channel's rows land in a bounded :class:`LiveFrame` (read whole, or a time range as
:class:`Arrays`); :func:`record` writes a stream to a capture.
"""

from ._arrays import Arrays
from ._live_frame import LiveFrame, Window
from ._record import record
from ._resume import Gap
from ._stats import State, StreamStats
from ._stream import ALL, EventStream

__all__ = [
    "ALL", "Arrays", "EventStream", "Gap", "LiveFrame", "State", "StreamStats", "Window", "record",
]
