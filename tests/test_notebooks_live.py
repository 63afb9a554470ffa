"""Every notebook's live part against a running server, given ``OPENAGI_NB_URL`` in each form a
user may have at hand: the server's root as ``openagi-nb serve`` prints it, its WebSocket root,
or the API's URL as the published spec writes it, this one with ``?token=``.

The quickstart is live from start to end and runs whole. The reports run their parameters cell,
their set-up cell (which loads the capture and defines the helpers the live cells use) and their
live cells: the analysis cells in between do not depend on the URL and are run by nbval and
``test_notebooks.py``. Each run is a fresh kernel (nbclient) and a real server on 127.0.0.1.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import openagi_nb as oa
from openagi_nb.server import BackgroundServer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
CAPTURE = ROOT / "data" / "sample_capture.jsonl.gz"
LIVE = ("00_quickstart.ipynb", "01_monitoring_metrics.ipynb", "02_security_audit.ipynb",
        "03_consensus_review.ipynb")
FORMS = {
    "server root": "{root}",
    "websocket root": "{ws}",
    "API URL with its token": "{ws}/api/v1/ws?token={token}",
}


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundServer]:
    with oa.serve(CAPTURE, speed=20, loop=True) as running:
        yield running


def live_part(name: str) -> nbformat.NotebookNode:
    """The cells of ``name`` that its live part needs (see the module)."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    if name == LIVE[0]:
        return nb
    code = [c for c in nb.cells if c.cell_type == "code"]
    nb.cells = code[:2] + [c for c in code[2:] if "stream" in c.source]
    return nb


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("name", LIVE)
def test_the_live_part_runs_with_openagi_nb_url_in_each_form(server, monkeypatch, name, form):
    token = server.token("notebook")
    url = FORMS[form].format(root=server.url, ws=server.url.replace("http", "ws", 1),
                             token=token)
    monkeypatch.setenv("OPENAGI_NB_URL", url)
    monkeypatch.delenv("OPENAGI_NB_TOKEN", raising=False)  # the notebooks fetch their own
    monkeypatch.setenv("OPENAGI_NB_CAPTURE", str(CAPTURE))
    nb = live_part(name)
    NotebookClient(nb, timeout=120, resources={"metadata": {"path": str(NOTEBOOKS)}},
                   record_timing=False, store_widget_state=False).execute()
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    text += "\n".join(str(v) for o in outputs for v in o.get("data", {}).values())
    assert "no live server" not in text
    assert token not in text
    if name == LIVE[0]:  # the quickstart's last cell: the stream's state once stopped
        assert "'stopped'" in text or "<State.STOPPED: 'stopped'>" in text
        assert "'events recorded': True" in text
    else:
        said = re.search(rf"<EventStream {re.escape(server.ws_url)} live: ([\d,]+) events", text)
        assert said, text[-500:]
        assert int(said.group(1).replace(",", "")) > 0
