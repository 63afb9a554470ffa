"""The notebooks: they run clean on a capture they were not written for and report ITS incidents,
as the analysis functions find them; and the committed notebooks are what nbval and readers need.

``pytest --nbval notebooks/`` checks the committed outputs against the bundled capture; this
module checks that nothing in the notebooks is tied to that capture: each runs (nbclient, a fresh
kernel) against a differently seeded scenario, and its findings must name that scenario's
breaches, bursts, stuck proposals..., and none of the bundled capture's.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

import openagi_nb as oa
from openagi_nb import analysis, scenario

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
MONITORING, SECURITY, CONSENSUS = (
    "01_monitoring_metrics.ipynb", "02_security_audit.ipynb", "03_consensus_review.ipynb",
)
OURS = (MONITORING, SECURITY, CONSENSUS)
QUICKSTART = "00_quickstart.ipynb"
EVERY = (QUICKSTART, *OURS)
MAX_BYTES = 2_000_000
PLOTLY = "application/vnd.plotly.v1+json"
LIVE_VARIABLES = ("OPENAGI_NB_URL", "OPENAGI_NB_TOKEN")


@pytest.fixture(scope="module")
def other_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another hour: seed 2024, 20 minutes, 16 nodes (the bundled one is seed 7, 1 h, 25)."""
    path = tmp_path_factory.mktemp("other") / "seed2024.jsonl.gz"
    scenario.write(path, seed=2024, duration=1200, nodes=16)
    return path


@pytest.fixture(scope="module")
def other(other_capture: Path) -> oa.Capture:
    return oa.load_capture(other_capture)


@pytest.fixture(scope="module")
def executed(other_capture: Path) -> Iterator[dict[str, nbformat.NotebookNode]]:
    """Each notebook executed against ``other_capture``, once per module, without a live server."""
    done: dict[str, nbformat.NotebookNode] = {}
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OPENAGI_NB_CAPTURE", str(other_capture))
        for name in LIVE_VARIABLES:
            env.delenv(name, raising=False)
        for name in EVERY:
            nb = nbformat.read(NOTEBOOKS / name, as_version=4)
            NotebookClient(nb, timeout=300, resources={"metadata": {"path": str(NOTEBOOKS)}},
                           record_timing=False, store_widget_state=False).execute()
            done[name] = nb
        yield done


def outputs(nb: nbformat.NotebookNode, mime: str) -> list[str]:
    return [
        "".join(out.get("data", {}).get(mime, ""))
        for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
        if mime in out.get("data", {})
    ]


def findings(nb: nbformat.NotebookNode) -> str:
    """The prose the notebook wrote (Markdown outputs), where incidents must be named."""
    return "\n".join(outputs(nb, "text/markdown"))


def everything(nb: nbformat.NotebookNode) -> str:
    text = [out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
            for out in cell.outputs]
    return "\n".join([*text, *(t for m in ("text/markdown", "text/plain", "text/html")
                                for t in outputs(nb, m))])


@pytest.mark.parametrize("name", EVERY)
def test_runs_clean_on_another_capture(executed, name):
    outs = [o for c in executed[name].cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outs if o.output_type == "error"]
    assert not [o.text for o in outs if o.output_type == "stream" and o.name == "stderr"]
    if name != QUICKSTART:  # the quickstart replays the capture; it reports no findings
        assert "seed2024.jsonl.gz" in findings(executed[name])


def test_quickstart_streams_the_capture_it_is_given(executed, other):
    """Without OPENAGI_NB_URL the quickstart replays OPENAGI_NB_CAPTURE in the kernel: its live
    frames hold that capture's nodes, none of the bundled one's extra nodes."""
    rows = "\n".join(outputs(executed[QUICKSTART], "text/html"))
    nodes = set(other.frame("monitoring_events")["node_id"].dropna().unique())
    shown = set(pd.Series(rows.split()).str.extract(r"(node_\d\d)")[0].dropna())
    assert shown
    assert shown <= nodes


def test_monitoring_names_the_breaches_and_the_spikes(executed, other):
    frame = other.frame("monitoring_events")
    sustained = analysis.breaches(frame, for_="2min")
    spikes = analysis.breaches(frame).merge(sustained, how="left", indicator=True)
    spikes = spikes[spikes["_merge"] == "left_only"]
    assert len(sustained)
    assert len(spikes)
    text = findings(executed[MONITORING])
    for b in sustained.itertuples():
        assert f"`{b.node_id}` {b.metric}" in text
        assert f"**First: `{b.node_id}`**" in text
    for s in spikes.itertuples():
        assert f"`{s.node_id}` {s.metric} at {s.start:%H:%M:%S}" in text


def test_security_names_the_unblocked_intrusions_bursts_and_certificates(executed, other):
    frame = other.frame("security_events")
    unblocked = analysis.unblocked(frame, "high")
    bursts = analysis.bursts(frame)
    certificates = analysis.certificates(frame)
    assert len(unblocked)
    assert len(bursts)
    assert len(certificates)
    text = findings(executed[SECURITY])
    for u in unblocked.itertuples():
        assert f"**{u.attack_type}** ({u.severity}) from `{u.source_ip}`" in text
    for b in bursts.itertuples():
        assert f"**{b.events:,} attack events" in text
        for ip in b.source_ips.split(", "):
            assert f"`{ip}`" in text
    for c in certificates.itertuples():
        assert f"The certificate of `{c.node_id}` expired at {c.expired_at:%H:%M:%S}" in text


def test_consensus_names_stuck_proposals_view_changes_and_quorum_violations(executed, other):
    frame = other.frame("consensus_events")
    newest = max(other.frame(c)["timestamp"].max() for c in other.channels)
    table = analysis.proposals(frame, as_of=newest)
    stuck = table[table["status"] == "stuck"]
    views = analysis.view_changes(frame)
    short = analysis.quorum_violations(frame)
    assert len(stuck)
    assert len(views)
    assert len(short)
    text = findings(executed[CONSENSUS])
    for p in stuck.itertuples():
        assert f"`{p.proposal_id}` by `{p.proposer}`" in text
    for v in views.itertuples():
        assert f"view {v.old_view} -> **{v.new_view}**, new leader `{v.new_leader}`" in text
    assert f"**{len(short)} phases** of {short['proposal_id'].nunique()} proposals" in text


def test_nothing_of_the_bundled_capture_is_reported(executed, other_capture):
    bundled = analysis.incidents(oa.load_capture(ROOT / "data" / "sample_capture.jsonl.gz"))
    with gzip.open(other_capture, "rt") as f:
        raw = f.read()
    # node ids, addresses, proposal ids of the bundled incidents that the other capture lacks
    foreign = {word.strip(",()") for subject in bundled["subject"] for word in subject.split()}
    foreign = {w for w in foreign if w and w not in raw}
    assert len(foreign) >= 5
    for name in OURS:
        shown = everything(executed[name])
        assert not [w for w in foreign if w in shown], name


@pytest.mark.parametrize("name", EVERY)
def test_committed_notebook_is_small_and_stores_no_widget_state(name):
    path = NOTEBOOKS / name
    nb = nbformat.read(path, as_version=4)
    assert path.stat().st_size < MAX_BYTES
    assert "widgets" not in nb.metadata
    mimes = {m for c in nb.cells if c.cell_type == "code" for o in c.outputs
             for m in o.get("data", {})}
    if name != QUICKSTART:  # reports: static figures only; the quickstart's are live widgets
        assert PLOTLY in mimes
        assert "application/vnd.jupyter.widget-view+json" not in mimes
    html = "\n".join(outputs(nb, "text/html"))
    assert "plotly.js" not in html
    assert "Plotly.newPlot" not in html


@pytest.mark.parametrize("name", EVERY)
def test_committed_notebook_starts_with_its_parameters_and_was_run_in_order(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].metadata.get("tags") == ["parameters"]
    assert "\nCAPTURE = " in code[0].source
    assert "\nLIVE_URL = " in code[0].source
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))


def test_only_live_cells_are_exempt_from_nbval():
    for name in EVERY:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code" and "NBVAL_IGNORE_OUTPUT" in cell.source:
                assert "stream" in cell.source, (name, cell.source[:80])


def test_findings_are_computed_not_typed():
    """No finding is a literal Markdown cell with numbers in it: numbers come from outputs."""
    for name in OURS:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                assert not any(w in cell.source for w in ("node_0", "node_1", "node_2",
                                                         "proposal_0")), name
                assert not pd.Series(cell.source.split()).str.fullmatch(
                    r"\d+\.\d+\.\d+\.\d+").any(), name


@pytest.mark.parametrize("name", EVERY)
def test_committed_notebook_shows_no_token(name):
    # every JWT starts with the base64 of '{"' ; the live sections ran with a real token
    assert "eyJ" not in (NOTEBOOKS / name).read_text(encoding="utf-8")
