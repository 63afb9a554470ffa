"""Shareable reports: each named notebook run on a capture by papermill and written by nbconvert
as one HTML file, without code, whose figures draw offline; papermill's own CLI on another
capture.

The three reports of the bundled capture are made once per module (``made``; the security one
through the CLI), with a live server and a token exported that must not reach the kernels; what
needs no analysis (failures, timeouts, tags) runs tiny notebooks written here.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

import openagi_nb as oa
from openagi_nb import analysis
from openagi_nb.cli import main
from openagi_nb.exceptions import NotebookFailed
from openagi_nb.pages import REPORTS, report

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample_capture.jsonl.gz"
NAMES = sorted(REPORTS)
PLOTLY = "application/vnd.plotly.v1+json"
TOKEN = "eyJ-a-token-that-must-stay-out-of-reports"
NOBODY = "http://127.0.0.1:9"  # the discard port: a live section sent there would fail
INPUT_MARKERS = {"jp-InputArea-editor", "jp-CodeMirrorEditor", "jp-InputPrompt",
                 "jp-OutputPrompt", "highlight", "jp-RenderedText"}
FETCHING = {"src", "href", "srcset", "action", "formaction", "poster", "data", "background"}


class Page(HTMLParser):
    """What a browser would see of a report: classes used, tags, fetching attributes, style
    sheets, the scripts' texts and the text shown."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.classes: set[str] = set()
        self.tags: list[str] = []
        self.links: list[tuple[str, str, str]] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.text: list[str] = []
        self._in: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._in = tag if tag in {"script", "style"} else None
        for name, value in attrs:
            if name == "class" and value:
                self.classes.update(value.split())
            if name in FETCHING and value:
                self.links.append((tag, name, value))

    def handle_data(self, data: str) -> None:
        if self._in == "script":
            self.scripts.append(data)
        elif self._in == "style":
            self.styles.append(data)
        else:
            self.text.append(data)
        self._in = None


@dataclass
class Made:
    """A report made in the module fixture: its HTML and the executed notebook kept beside it."""

    html: str
    notebook: nbformat.NotebookNode
    page: Page


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Made]:
    """The three reports of the bundled capture; a live server and its token are exported, as
    a user running ``make demo`` would have them, and must not reach the report kernels."""
    out = tmp_path_factory.mktemp("reports")
    done = {}
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OPENAGI_NB_URL", NOBODY)
        env.setenv("OPENAGI_NB_TOKEN", TOKEN)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            assert main(["report", str(SAMPLE), "--notebook", "security", "-o",
                         str(out / "security.html"), "--keep-notebook",
                         str(out / "security.ipynb")]) == 0
        (out / "cli.txt").write_text(printed.getvalue())
        for name in ("monitoring", "consensus"):
            report(SAMPLE, name, out / f"{name}.html", keep_notebook=out / f"{name}.ipynb")
    for name in NAMES:
        html = (out / f"{name}.html").read_text(encoding="utf-8")
        done[name] = Made(html, nbformat.read(out / f"{name}.ipynb", as_version=4), Page(html))
    return done


@pytest.fixture(scope="module")
def other_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another hour of another network: seed 11 (the bundled capture is seed 7)."""
    path = tmp_path_factory.mktemp("other") / "seed11.jsonl.gz"
    assert main(["generate", "--seed", "11", "--duration", "1h", "-o", str(path)]) == 0
    return path


def markdown_outputs(nb: nbformat.NotebookNode) -> str:
    return "\n".join("".join(o["data"]["text/markdown"]) for c in nb.cells
                     if c.cell_type == "code" for o in c.outputs
                     if "text/markdown" in o.get("data", {}))


def figures(nb: nbformat.NotebookNode) -> int:
    return sum(PLOTLY in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
               for o in c.outputs)


def expected_names(name: str, cap: oa.Capture) -> set[str]:
    """Names the report must give for ``cap``: what the analysis functions find."""
    if name == "security":
        frame = cap.frame("security_events")
        bursts = analysis.bursts(frame)["source_ips"].str.split(", ").explode()
        return {*analysis.unblocked(frame, "high")["source_ip"], *bursts,
                *analysis.certificates(frame)["node_id"]}
    if name == "monitoring":
        sustained = analysis.breaches(cap.frame("monitoring_events"), for_="2min")
        return {f"{b.node_id}</code> {b.metric}" for b in sustained.itertuples()}
    frame = cap.frame("consensus_events")
    newest = max(cap.frame(c)["timestamp"].max() for c in cap.channels)
    table = analysis.proposals(frame, as_of=newest)
    stuck = table[table["status"] == "stuck"]
    return {*(f"<code>{p.proposal_id}</code> by <code>{p.proposer}</code>"
              for p in stuck.itertuples()),
            *(f"<strong>{v.new_view}</strong>, new leader <code>{v.new_leader}</code>"
              for v in analysis.view_changes(frame).itertuples())}


@pytest.mark.parametrize("name", NAMES)
def test_a_report_shows_no_code_and_no_prompt(made, name):
    page = made[name].page
    assert not INPUT_MARKERS & page.classes
    assert "pre" not in page.tags
    shown = " ".join(page.text).replace("\xa0", " ")
    assert not re.findall(r"\b(In|Out) ?\[", shown)
    assert "jp-MarkdownCell" in page.classes


@pytest.mark.parametrize("name", NAMES)
def test_a_report_has_the_notebooks_headings_and_findings(made, name):
    source = nbformat.read(REPORTS[name], as_version=4)
    headings = [line.lstrip("#").strip() for c in source.cells if c.cell_type == "markdown"
                for line in c.source.splitlines() if line.startswith("#")]
    text = made[name].html.replace("&gt;", ">").replace("&#39;", "'")
    assert len(headings) >= 5
    missing = [h for h in headings if re.sub(r"[*`]", "", h).split(":")[0] not in text]
    assert not [h for h in missing if not h.startswith(("6. Live", "7. Live"))]
    names = expected_names(name, oa.load_capture(SAMPLE))
    assert names
    assert not [n for n in names if n not in made[name].html]


@pytest.mark.parametrize("name", NAMES)
def test_a_report_embeds_plotly_js_once_and_draws_each_figure_with_it(made, name):
    page, html = made[name].page, made[name].html
    big = [s for s in page.scripts if len(s) > 1_000_000]
    assert len(big) == 1
    assert big[0].lstrip().startswith("/**\n* plotly.js v")
    assert html.count("plotly.js v") == 1
    count = figures(made[name].notebook)
    assert count >= 3
    assert html.count('class="plotly-graph-div"') == count
    assert sum("Plotly.newPlot(" in s for s in page.scripts) == count
    assert PLOTLY not in html


@pytest.mark.parametrize("name", NAMES)
def test_a_report_asks_nothing_outside_the_file(made, name):
    page = made[name].page
    outside = [link for link in page.links if re.match(r"\s*(https?:)?//", link[2], re.I)]
    assert outside == []
    assert not [link for link in page.links if link[1] != "href"]  # no src= of any kind
    assert "link" not in page.tags
    styles = "\n".join(page.styles)
    assert "@import" not in styles
    assert not re.findall(r"url\(\s*['\"]?(?!data:)", styles)
    small = "\n".join(s for s in page.scripts if len(s) < 1_000_000)
    assert not re.findall(r"https?://", small)  # nothing but plotly.js names a URL


@pytest.mark.parametrize("name", NAMES)
def test_the_live_section_stays_off_and_the_token_out(made, name):
    nb = made[name].notebook
    injected = next(c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert "LIVE_URL = None" in injected.source
    assert f'CAPTURE = "{SAMPLE}"' in injected.source
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert TOKEN not in made[name].html
    assert TOKEN not in nbformat.writes(nb)
    assert NOBODY not in made[name].html


@pytest.mark.parametrize("name", NAMES)
def test_the_title_and_footer_name_the_notebook_and_the_capture(made, name):
    title = re.search(r"<title>(.*?)</title>", made[name].html).group(1)
    assert title.endswith(f"({SAMPLE.name})")
    assert f"{REPORTS[name].name} run on the capture {SAMPLE.name}" in made[name].html


def test_the_cli_says_what_it_wrote(made, tmp_path_factory):
    printed = next(tmp_path_factory.getbasetemp().glob("reports*/cli.txt")).read_text()
    assert re.fullmatch(r"wrote \S+security\.html \(\d+\.\d MB\): the security report on "
                        r"\S+sample_capture\.jsonl\.gz, in \d+ s; the executed notebook is "
                        r"\S+security\.ipynb\n", printed)


def test_a_report_is_about_the_capture_it_is_given(other_capture, tmp_path, monkeypatch):
    """Even with OPENAGI_NB_CAPTURE naming the bundled capture: the argument wins."""
    monkeypatch.setenv("OPENAGI_NB_CAPTURE", str(SAMPLE))
    out = report(other_capture, "consensus", tmp_path / "r.html")
    html = out.read_text(encoding="utf-8")
    other, bundled = oa.load_capture(other_capture), oa.load_capture(SAMPLE)
    assert "seed11.jsonl.gz" in html
    assert SAMPLE.name not in html
    names = expected_names("consensus", other)
    foreign = expected_names("consensus", bundled) - names
    assert names
    assert foreign
    assert not [n for n in names if n not in html]
    assert not [n for n in foreign if n in html]


def test_papermill_runs_a_notebook_on_the_capture_given_with_p(other_capture, tmp_path):
    """``papermill notebooks/02_security_audit.ipynb out.ipynb -p CAPTURE other.jsonl.gz``, as
    its users write it, reports that capture's findings and none of the bundled one's."""
    out = tmp_path / "out.ipynb"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAGI_NB")}
    subprocess.run(
        [sys.executable, "-m", "papermill", str(REPORTS["security"]), str(out),
         "-p", "CAPTURE", other_capture.name, "--no-progress-bar"],
        cwd=other_capture.parent, env=env, check=True, capture_output=True, timeout=300)
    text = markdown_outputs(nbformat.read(out, as_version=4))
    frame = oa.load_capture(other_capture).frame("security_events")
    first = analysis.audit(frame).findings()[0]  # "Events: N, from ... to ..."
    assert f"The security audit of `{other_capture.name}`" in text
    assert f"- {first}" in text
    assert f"- {analysis.audit(oa.load_capture(SAMPLE).frame('security_events')).findings()[0]}" \
        not in text
    assert SAMPLE.name not in text
    for ip in analysis.unblocked(frame, "high")["source_ip"]:
        assert f"`{ip}`" in text


# --- tiny notebooks: what a report does with cells, failures, time ---------------------------


def write_notebook(path: Path, *cells: nbformat.NotebookNode) -> Path:
    """A notebook with a parameters cell and ``cells``, and no kernelspec (run as Python)."""
    parameters = new_code_cell('import os\nCAPTURE = "none"\nLIVE_URL = None\nN = 1',
                               metadata={"tags": ["parameters"]})
    nb = new_notebook(cells=[new_markdown_cell("# A tiny report"), parameters, *cells])
    nbformat.write(nb, path)
    return path


SHOW = "from IPython.display import Markdown, display\n"


def test_printed_tagged_and_empty_cells_are_left_out_live_cells_unless_live(tmp_path,
                                                                            monkeypatch):
    monkeypatch.setenv("OPENAGI_NB_URL", NOBODY)
    nb = write_notebook(
        tmp_path / "tags.ipynb",
        new_code_cell(SHOW + "print('PRINTED')\ndisplay(Markdown(f'N is {N!r}, cwd '"
                      "f'{os.getcwd()}, env {os.environ.get(\"OPENAGI_NB_URL\")} '"
                      "f'{os.environ[\"OPENAGI_NB_CAPTURE\"]}'))"),
        new_markdown_cell("## LIVE HEADING", metadata={"tags": ["live"]}),
        new_code_cell(SHOW + "display(Markdown(f'LIVE CELL {LIVE_URL}'))",
                      metadata={"tags": ["live"]}),
        new_code_cell(SHOW + "display(Markdown('REMOVED CELL'))",
                      metadata={"tags": ["remove-cell"]}),
        new_code_cell(SHOW + "display(Markdown('REMOVED OUTPUT'))",
                      metadata={"tags": ["remove-output"]}),
        new_code_cell("x = 1"),
    )
    quiet = report(SAMPLE, nb, tmp_path / "quiet.html", parameters={"N": 2.5}).read_text()
    assert f"N is 2.5, cwd {tmp_path}, env None {SAMPLE}" in quiet
    for text in ("PRINTED", "LIVE HEADING", "LIVE CELL", "REMOVED CELL", "REMOVED OUTPUT"):
        assert text not in quiet
    assert Page(quiet).classes.isdisjoint({"jp-mod-noOutputs"})
    live = report(SAMPLE, nb, tmp_path / "live.html",
                  parameters={"LIVE_URL": "ws://example.invalid"}).read_text()
    assert "LIVE HEADING" in live
    assert "LIVE CELL ws://example.invalid" in live


def test_a_failing_cell_is_named_with_its_exception(tmp_path):
    nb = write_notebook(tmp_path / "fails.ipynb", new_code_cell("x = {}\nx['nope']"))
    kept = tmp_path / "kept.ipynb"
    with pytest.raises(NotebookFailed) as failed:
        report(SAMPLE, nb, tmp_path / "r.html", keep_notebook=kept)
    assert str(failed.value) == ("fails.ipynb: cell In [3] (x = {}) failed: KeyError: 'nope' "
                                 f"(the notebook as far as it ran: {kept})")
    assert (failed.value.cell, failed.value.ename) == (3, "KeyError")
    assert not (tmp_path / "r.html").exists()
    assert nbformat.read(kept, as_version=4).cells[-1].outputs[0].ename == "KeyError"


def test_the_cli_says_which_cell_failed_in_one_line(tmp_path):
    nb = write_notebook(tmp_path / "fails.ipynb", new_code_cell("raise ValueError('bad\\nlines')"))
    result = subprocess.run(
        [sys.executable, "-m", "openagi_nb", "report", str(SAMPLE), "--notebook", str(nb),
         "-o", str(tmp_path / "r.html")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr == ("openagi-nb report: error: fails.ipynb: cell In [3] "
                             "(raise ValueError('bad\\nlines')) failed: ValueError: bad\n")
    assert result.stdout == ""


def test_a_cell_running_over_the_timeout_fails_the_report(tmp_path):
    nb = write_notebook(tmp_path / "slow.ipynb", new_code_cell("import time\ntime.sleep(60)"))
    with pytest.raises(NotebookFailed, match=r"^slow\.ipynb: cell In \[3\] \(import time\) ran "
                                             r"over the 2 s a cell may take$") as failed:
        report(SAMPLE, nb, tmp_path / "r.html", timeout=2)
    assert failed.value.ename == "timeout"


def test_the_named_reports_are_the_bundled_notebooks():
    assert {name: path.name for name, path in REPORTS.items()} == {
        "consensus": "03_consensus_review.ipynb", "monitoring": "01_monitoring_metrics.ipynb",
        "security": "02_security_audit.ipynb"}
    assert all(path.is_file() for path in REPORTS.values())
