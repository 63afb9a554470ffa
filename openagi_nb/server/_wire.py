"""WebSocket framing of what the server sends (RFC 6455 section 5.2), done once per message.

A server's frames are not masked (section 5.1), so the bytes of a frame are the same for every
client: the replay server frames each message once and writes the very same ``bytes`` object to
every subscriber, many frames per ``transport.write``. Still one message per frame, as the spec's
clients expect.
"""

from __future__ import annotations

import struct
from typing import Final

__all__ = ["text_frame"]

_FIN_TEXT: Final = 0x81
_LEN16: Final = struct.Struct("!BBH").pack
_LEN64: Final = struct.Struct("!BBQ").pack


def text_frame(payload: bytes) -> bytes:
    """One final, unmasked text frame carrying ``payload`` (UTF-8 JSON)."""
    size = len(payload)
    if size < 126:
        return bytes((_FIN_TEXT, size)) + payload
    if size < 65536:
        return _LEN16(_FIN_TEXT, 126, size) + payload
    return _LEN64(_FIN_TEXT, 127, size) + payload

