"""The notebooks: they run clean on a capture they were not written for and report ITS incidents,
as the analysis functions find them; and the committed notebooks are what nbval and readers need.

``pytest --nbval notebooks/`` checks the committed outputs against the bundled capture; this
module checks that nothing in the notebooks is tied to that capture: each runs (nbclient, a fresh
kernel) against a differently seeded scenario, and its findings must name that scenario's
breaches, bursts, stuck proposals..., and none of the bundled capture's. The fleet notebook reads
a Parquet dataset instead of a capture: it runs against another generated dataset
(``OPENAGI_NB_DATASET``), on its own ``LocalCluster``, and must name that dataset's incidents.
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
FLEET = "04_fleet_scale.ipynb"
REPORTS = (*OURS, FLEET)
EVERY = (QUICKSTART, *REPORTS)
MAX_BYTES = 2_000_000
PLOTLY = "application/vnd.plotly.v1+json"
LIVE_VARIABLES = ("OPENAGI_NB_URL", "OPENAGI_NB_TOKEN")
PARAMETERS = {FLEET: ("DATASET", "SCHEDULER")}
"""The parameters each notebook must start with; the others: ``CAPTURE`` and ``LIVE_URL``."""


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
def other_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another period: seed 2024, one day of 16 nodes, as a Parquet dataset (the fleet notebook
    generates seed 11, two days)."""
    path = tmp_path_factory.mktemp("fleet") / "seed2024.parquet"
    scenario.export(path, seed=2024, duration=86400, nodes=16)
    return path


@pytest.fixture(scope="module")
def other_fleet(other_dataset: Path) -> dict[str, pd.DataFrame]:
    dataset = oa.open_dataset(other_dataset)
    return {c.value: dataset.frame(c.value) for c in dataset.channels}


@pytest.fixture(scope="module")
def executed(other_capture: Path, other_dataset: Path
             ) -> Iterator[dict[str, nbformat.NotebookNode]]:
    """Each notebook executed against ``other_capture`` (the fleet one against
    ``other_dataset``, on a LocalCluster), once per module, without a live server."""
    done: dict[str, nbformat.NotebookNode] = {}
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OPENAGI_NB_CAPTURE", str(other_capture))
        env.setenv("OPENAGI_NB_DATASET", str(other_dataset))
        for name in (*LIVE_VARIABLES, "OPENAGI_NB_SCHEDULER"):  # the fleet: a LocalCluster
            env.delenv(name, raising=False)
        for name in EVERY:
            nb = nbformat.read(NOTEBOOKS / name, as_version=4)
            NotebookClient(nb, timeout=300, resources={"metadata": {"path": str(NOTEBOOKS)}},
                           record_timing=False, store_widget_state=False).execute()
            done[name] = nb
        yield done


def assert_security_named(text: str, unblocked: pd.DataFrame, bursts: pd.DataFrame,
                          with_attack: bool = False) -> None:
    """Each unblocked intrusion and each burst (its size, its sources) is named in ``text``."""
    for u in unblocked.itertuples():
        assert f"**{u.attack_type}** ({u.severity}) from `{u.source_ip}`" in text
    for b in bursts.itertuples():
        attack = f" of {b.attack_type}**" if with_attack else ""
        assert f"**{b.events:,} attack events{attack}" in text
        for ip in b.source_ips.split(", "):
            assert f"`{ip}`" in text


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
    if name == FLEET:
        assert "`seed2024.parquet`" in findings(executed[name])
    elif name != QUICKSTART:  # the quickstart replays the capture; it reports no findings
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
    assert_security_named(text, unblocked, bursts)
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


def test_fleet_names_the_datasets_incidents_over_the_whole_period(executed, other_fleet):
    """The fleet notebook, run on Dask, reports what pandas finds in the same dataset: every
    incident, the breaches, the unblocked intrusions, the bursts' sources, the stuck proposals."""
    monitoring = other_fleet["monitoring_events"]
    security = other_fleet["security_events"]
    found = analysis.incidents(other_fleet)
    sustained = analysis.breaches(monitoring, for_="2min")
    unblocked = analysis.unblocked(security, "high")
    bursts = analysis.bursts(security)
    newest = max(frame["timestamp"].max() for frame in other_fleet.values())
    table = analysis.proposals(other_fleet["consensus_events"], as_of=newest)
    stuck = table[table["status"] == "stuck"]
    assert set(found["kind"]) >= {"breach", "burst", "unblocked_intrusion", "stuck_proposal",
                                  "node_left", "partition", "view_change"}
    for table in (sustained, unblocked, bursts, stuck):
        assert len(table)
    text = findings(executed[FLEET])
    assert f"**{len(found)} incidents** in `seed2024.parquet`" in text
    for i in found.itertuples():
        assert f"**{i.kind}** `{i.subject}`: {i.detail}" in text
    for b in sustained.itertuples():
        assert f"`{b.node_id}` {b.metric} from {b.start:%Y-%m-%d %H:%M:%S}" in text
    assert_security_named(text, unblocked, bursts, with_attack=True)
    for p in stuck.itertuples():
        assert f"`{p.proposal_id}` by `{p.proposer}`" in text
    events = sum(len(frame) for frame in other_fleet.values())
    assert f"holds **{events:,}** events of 4 channels" in text
    assert "the Dask dashboard: [http://" in text


def test_fleet_reports_nothing_of_its_default_dataset(executed, other_fleet):
    """What the committed fleet notebook names (its generated dataset's nodes' incidents,
    addresses, proposals) is absent from the run on another dataset, unless that one has it."""
    committed = findings(nbformat.read(NOTEBOOKS / FLEET, as_version=4))
    named = set(pd.Series(committed.split("`")[1::2]).str.split().explode())
    present: set[str] = set()
    for frame in other_fleet.values():
        for column in frame.columns:  # the words of every text and list column
            values = frame[column].dropna()
            if isinstance(values.dtype, pd.ArrowDtype):
                values = values.explode()  # lists of node ids
            present.update(map(str, values.astype(str).unique()))
    foreign = {w for w in named if w not in present and any(ch.isdigit() for ch in w)}
    assert len(foreign) >= 5
    shown = everything(executed[FLEET])
    assert not [w for w in foreign if w in shown]


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
    for parameter in PARAMETERS.get(name, ("CAPTURE", "LIVE_URL")):
        assert f"\n{parameter} = " in code[0].source
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))


def test_only_live_cells_are_exempt_from_nbval():
    for name in EVERY:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code" and "NBVAL_IGNORE_OUTPUT" in cell.source:
                assert "stream" in cell.source, (name, cell.source[:80])


def test_findings_are_computed_not_typed():
    """No finding is a literal Markdown cell with numbers in it: numbers come from outputs."""
    for name in REPORTS:
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


PUBLIC_NAMESPACES = {"openagi_nb", *(f"openagi_nb.{n}" for n in ("analysis", "widgets"))}
"""What a notebook may import of the package: ``openagi_nb`` itself and the namespaces it
exports; everything else is reached as ``oa.<name>``, the one-line forms the README shows."""


@pytest.mark.parametrize("name", EVERY)
def test_notebooks_import_nothing_internal(name):
    import ast
    import importlib

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    found = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Import):
                found += [(a.name, None) for a in node.names if a.name.startswith("openagi_nb")]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("openagi_nb"):
                found += [(node.module, a.name) for a in node.names]
    assert found, "the notebook imports openagi_nb"
    for module, attribute in found:
        assert module in PUBLIC_NAMESPACES, f"{name} imports {module}"
        if attribute is not None:
            assert attribute in importlib.import_module(module).__all__, (
                f"{name} imports {attribute} from {module}")


@pytest.mark.parametrize("name", OURS)
def test_the_live_section_is_tagged_live_for_reports_to_leave_out(name):
    """``openagi-nb report`` drops cells tagged ``live`` when it runs without a server: the
    live section, its heading included, and nothing else."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    tagged = [i for i, c in enumerate(nb.cells) if "live" in c.metadata.get("tags", [])]
    assert tagged == list(range(tagged[0], len(nb.cells)))
    assert nb.cells[tagged[0]].source.startswith("## ")
    assert all("stream" not in c.source for c in nb.cells[:tagged[0]] if c.cell_type == "code")
