"""The dashboard page (``openagi_nb.pages.dashboard``, ``openagi-nb dashboard``) without a
browser: arguments refused up front, the generated notebook, where the token goes (the
kernel's environment, nowhere else), the missing extra, Voila failing to start, a real page
served and stopped, and the notebook's code run in a real kernel against the replay server.

The browser test (``tests/browser/test_dashboard_page.py``) drives the page itself.
"""

from __future__ import annotations

import os
import socket
import sys
import tomllib
import urllib.request
from pathlib import Path

import pytest

from openagi_nb.cli import build_parser, main
from openagi_nb.exceptions import OpenAGIError
from openagi_nb.pages import DashboardPage, _notebook, _voila, dashboard

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2Vu.c2lnbmF0dXJl"  # what must not leak
SERVER = "ws://127.0.0.1:9/api/v1/ws"


@pytest.fixture
def unlaunched(monkeypatch):
    """Pages that do everything but start Voila."""
    monkeypatch.setattr(DashboardPage, "_launch", lambda self, path, timeout: True)


def files_of(page: DashboardPage) -> str:
    return "\n".join(p.read_text(errors="replace") for p in page._root.rglob("*") if p.is_file())


# --- the command line ---------------------------------------------------------------------


@pytest.mark.parametrize(("argv", "message"), [
    (["ftp://host:1"], "the scheme must be http, https, ws or wss"),
    (["http://127.0.0.1:8080/api/v1/status"], "/api/v1/status is not the WebSocket endpoint"),
    (["http://127.0.0.1:8080", "--window", "soon"], "argument --window"),
    (["http://127.0.0.1:8080", "--channel", "nope_events"], "argument --channel"),
])
def test_bad_arguments_exit_2_saying_what_is_wrong(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(["dashboard", *argv])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_a_token_in_a_refused_url_is_not_repeated(capsys):
    with pytest.raises(SystemExit):
        main(["dashboard", f"ftp://host:1/?token={TOKEN}"])
    err = capsys.readouterr().err
    assert "'ftp://host:1/'" in err
    assert TOKEN not in err


def test_the_page_listens_on_loopback_unless_told_otherwise():
    args = build_parser().parse_args(["dashboard", "http://127.0.0.1:8080"])
    assert (args.host, args.port, args.window, args.channel) == ("127.0.0.1", 0, "15min", None)
    assert build_parser().parse_args(
        ["dashboard", "http://h:1", "--host", "0.0.0.0"]).host == "0.0.0.0"


def test_without_voila_the_command_says_which_extra_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "voila", None)  # import voila fails
    assert main(["dashboard", "http://127.0.0.1:9"]) == 1
    assert capsys.readouterr().err == (
        "openagi-nb dashboard: error: the dashboard page needs Voila and nbformat: "
        "pip install 'openagi-nb[pages]'\n")


# --- the library --------------------------------------------------------------------------


def test_without_voila_dashboard_raises_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "voila", None)
    with pytest.raises(ImportError, match=r"pip install 'openagi-nb\[pages\]'"):
        dashboard("http://127.0.0.1:9")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"channels": ["nope_events"]}, "unknown channel 'nope_events'"),
    ({"window": "soon"}, "window"),
    ({"window": 0}, "at least 1 row"),
])
def test_bad_arguments_are_refused_before_anything_starts(kwargs, message):
    with pytest.raises(ValueError, match=message):
        dashboard("http://127.0.0.1:9", **kwargs)


def test_the_notebook_holds_the_settings_and_no_token():
    code = "\n".join(_notebook.sources(SERVER, channels=["security_events"], window="1h",
                                       view="1h"))
    assert f"URL = {SERVER!r}" in code
    assert "CHANNELS = ['security_events']" in code
    assert "WINDOW = '1h'" in code
    assert 'os.environ.get("OPENAGI_NB_TOKEN")' in code
    assert "dashboard(stream, window=VIEW)" in code.splitlines()[-1]
    compile(code, "page", "exec")


def test_the_notebook_runs_in_the_pages_own_kernel(tmp_path):
    import nbformat

    path = _notebook.write(tmp_path / "p.ipynb", SERVER, channels=["network_events"],
                           window=1000, view="5min")
    node = nbformat.read(path, as_version=4)
    nbformat.validate(node)
    assert node.metadata.kernelspec.name == _voila.KERNEL
    assert node.metadata.title == "Open-A.G.I dashboard"
    assert [c.cell_type for c in node.cells] == ["code", "code"]


def test_a_token_in_the_url_goes_to_the_kernels_environment_only(unlaunched):
    with dashboard(f"http://127.0.0.1:9/?token={TOKEN}", port=8999) as page:
        assert page.server == SERVER
        assert TOKEN not in repr(page)
        assert repr(page) == f"<DashboardPage http://127.0.0.1:8999/ of {SERVER} (new)>"
        assert TOKEN not in files_of(page)  # the notebook, the template, the kernelspec
        assert page._secrets == {_notebook.TOKEN_VARIABLE: TOKEN}
        env = _voila.environment(page._root, page._secrets, watched=False)
        assert env[_notebook.TOKEN_VARIABLE] == TOKEN
        command = _voila.command(page._root / "page" / _voila.NOTEBOOK, page.host, page.port)
        assert TOKEN not in " ".join(command)
        root = page._root
    assert not root.exists()
    assert repr(page).endswith("(stopped)>")


def test_without_a_token_the_kernel_fetches_one_for_a_node(unlaunched):
    with dashboard("http://127.0.0.1:9") as page:
        assert page._secrets == {_notebook.NODE_ID_VARIABLE: "openagi-nb-dashboard"}
    with dashboard("http://127.0.0.1:9", node_id="ops", token=TOKEN) as page:
        assert page._secrets == {_notebook.NODE_ID_VARIABLE: "ops",
                                 _notebook.TOKEN_VARIABLE: TOKEN}


def test_the_stream_keeps_the_window_and_the_dashboard_shows_it(unlaunched):
    for window, view in [("15min", "15min"), ("2h", "all"), (50_000, "5min")]:
        with dashboard("http://127.0.0.1:9", window=window) as page:
            code = (page._root / "page" / _voila.NOTEBOOK).read_text()
            assert f"WINDOW = {window!r}" in code
            assert f"VIEW = {view!r}" in code


def test_voilas_environment_is_its_own(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", "/home/someone/.jupyter")
    monkeypatch.setenv("JUPYTER_PATH", "/elsewhere")
    monkeypatch.setenv("OPENAGI_NB_TOKEN", "an-old-token")
    env = _voila.environment(tmp_path, {}, watched=True)
    assert env["JUPYTER_CONFIG_DIR"] == str(tmp_path / "config")
    assert env["JUPYTER_DATA_DIR"] == str(tmp_path / "data")
    assert "JUPYTER_PATH" not in env
    assert "OPENAGI_NB_TOKEN" not in env
    assert env[_voila.PARENT].isdigit()
    assert str(ROOT) in env["PYTHONPATH"].split(os.pathsep)  # the kernel imports this package


def test_the_sandbox_holds_the_template_and_a_kernel_of_this_python(tmp_path):
    import json

    _voila.sandbox(tmp_path)
    template = tmp_path / "data" / "voila" / "templates" / _voila.TEMPLATE
    assert sorted(p.name for p in template.iterdir()) == ["conf.json", "index.html.j2",
                                                         "page.html"]
    spec = json.loads((tmp_path / "data" / "kernels" / _voila.KERNEL / "kernel.json").read_text())
    assert spec["argv"][0] == sys.executable


def test_the_template_ships_in_the_package_data():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    package = ROOT / "openagi_nb"
    shipped = {p for pattern in data["package-data"]["openagi_nb"] for p in package.glob(pattern)}
    templates = {p for p in (package / "pages" / "templates").rglob("*") if p.is_file()}
    assert templates
    assert templates <= shipped


def test_a_taken_port_is_an_error_with_voilas_log():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OpenAGIError, match=rf"port {port} on 127.0.0.1 is in use; its log"):
            dashboard("http://127.0.0.1:9", port=port, timeout=60)


# --- real Voila, real kernels -------------------------------------------------------------


@pytest.fixture
def replay(serve, capture):
    return serve(capture, speed=20, loop=True)


@pytest.mark.slow
def test_a_page_is_served_without_code_and_stopped_with_its_files(replay):
    with dashboard(replay.base_url, token=replay.token("page")) as page:
        assert page.running
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(page.url, timeout=60) as response:
            html = response.read().decode()
        root, port = page._root, page.port
    assert "<title>Open-A.G.I dashboard</title>" in html
    assert "application/vnd.jupyter.widget-view+json" in html
    assert "EventStream" not in html
    assert replay.token("page") not in html
    assert "cdn.jsdelivr.net" not in html
    assert not page.running
    assert not root.exists()
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))


@pytest.mark.slow
def test_the_notebook_streams_with_a_token_fetched_for_its_node(replay, monkeypatch, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    node = _notebook.notebook(replay.ws_url, channels=["monitoring_events"], window="15min",
                              view="15min")
    node.cells.append(nbformat.v4.new_code_cell(
        "received = stream.wait_for(20, timeout=30)\nstream.stop()\n"
        "print(received >= 20, stream.stats.state)"))
    node.metadata.kernelspec.name = "python3"
    monkeypatch.setenv(_notebook.NODE_ID_VARIABLE, "page-test")
    monkeypatch.delenv(_notebook.TOKEN_VARIABLE, raising=False)
    NotebookClient(node, timeout=60, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert node.cells[-1].outputs[0]["text"] == "True stopped\n"
