"""The replay server: the Open-A.G.I WebSocket API and its token endpoint over a recorded capture.

:func:`serve` runs it in the foreground (``openagi-nb serve``); :class:`BackgroundServer` runs it
in a thread of this process (tests, notebooks); :class:`ReplayServer` runs in an event loop you
own. Importing this package does not import aiohttp: the names load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from .._lazy import attach

if TYPE_CHECKING:
    from ._app import ReplayServer, serve
    from ._background import BackgroundServer
    from ._options import ServeOptions, parse_speed

_HOMES: Final = {
    "BackgroundServer": "._background", "ReplayServer": "._app", "ServeOptions": "._options",
    "parse_speed": "._options", "serve": "._app",
}

__all__ = ["BackgroundServer", "ReplayServer", "ServeOptions", "parse_speed", "serve"]


__getattr__, __dir__ = attach(__name__, _HOMES, __all__)
