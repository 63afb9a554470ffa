"""The dashboard page's notebook, generated with nbformat: what the Voila kernel runs.

It holds what the page shows (the server's URL without its token, the channels, the windows)
and nothing secret: the token, or the node id to fetch one with, is read from the kernel's
environment (``OPENAGI_NB_TOKEN``, ``OPENAGI_NB_NODE_ID``), which :mod:`._voila` sets.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from ._voila import KERNEL

__all__ = ["NODE_ID_VARIABLE", "TITLE", "TOKEN_VARIABLE", "notebook", "sources", "write"]

TITLE: Final = "Open-A.G.I dashboard"
TOKEN_VARIABLE: Final = "OPENAGI_NB_TOKEN"
NODE_ID_VARIABLE: Final = "OPENAGI_NB_NODE_ID"

_SETTINGS: Final = '''\
import os

import openagi_nb as oa

URL = {url!r}  # the server's WebSocket API
CHANNELS = {channels!r}
WINDOW = {window!r}  # what the stream keeps of each channel
VIEW = {view!r}  # the dashboard's window at first
# from `openagi-nb dashboard`, never written here: a token, or the node id to fetch tokens for
TOKEN = os.environ.get("{token}") or None
NODE_ID = os.environ.get("{node_id}") or None
'''

# the token is fetched (and fetched again when it expires) by the stream, as it connects: a
# server that is down shows in the status line ("reconnecting: ..."), not as a cell's error
_DASHBOARD: Final = '''\
stream = oa.EventStream(URL, channels=CHANNELS, window=WINDOW, token=TOKEN, node_id=NODE_ID)
stream.start()
oa.widgets.dashboard(stream, window=VIEW)
'''


def sources(url: str, *, channels: Sequence[str], window: int | str, view: str) -> list[str]:
    """The code of the page's cells: settings, then the stream and its dashboard.

    Args:
        url: the API's WebSocket URL, without a token.
        channels: the channels to subscribe to.
        window: what the stream keeps (rows, or a time span such as ``"15min"``).
        view: the dashboard's first window (``"5min"``, ``"all"``...).
    """
    settings = _SETTINGS.format(url=url, channels=list(channels), window=window, view=view,
                                token=TOKEN_VARIABLE, node_id=NODE_ID_VARIABLE)
    return [settings, _DASHBOARD]


def notebook(url: str, *, channels: Sequence[str], window: int | str, view: str) -> Any:
    """The page's notebook (an ``nbformat`` v4 node) for :func:`sources`, run by the page's
    own kernelspec (this Python) and titled for the browser's tab."""
    import nbformat

    # nbformat's functions are not annotated
    cells = [nbformat.v4.new_code_cell(code)  # type: ignore[no-untyped-call]
             for code in sources(url, channels=channels, window=window, view=view)]
    return nbformat.v4.new_notebook(cells=cells, metadata={  # type: ignore[no-untyped-call]
        "title": TITLE,
        "kernelspec": {"name": KERNEL, "display_name": "openagi-nb dashboard",
                       "language": "python"},
        "language_info": {"name": "python"},
    })


def write(path: Path, url: str, *, channels: Sequence[str], window: int | str,
          view: str) -> Path:
    """Write the page's :func:`notebook` to ``path`` (validated by nbformat); return ``path``."""
    import nbformat

    node = notebook(url, channels=channels, window=window, view=view)
    nbformat.write(node, path)  # type: ignore[no-untyped-call]
    return path
