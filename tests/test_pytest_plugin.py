"""The pytest plugin (``--openagi-capture``): inner pytest sessions run with ``pytester``, against
the real replay server it starts; and :class:`ReplayEnvironment` on its own."""

from __future__ import annotations

import json
import os
import socket
import tomllib
from importlib.metadata import distributions
from pathlib import Path

import nbformat
import pytest
import websocket
from nbformat.v4 import new_code_cell, new_notebook, new_output

from openagi_nb.exceptions import ServerConfigError
from openagi_nb.pytest_plugin import ENV_CAPTURE, ENV_TOKEN, ENV_URL, ReplayEnvironment

from .conftest import write_capture

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
MODULE = "openagi_nb.pytest_plugin"
VARIABLES = (ENV_URL, ENV_TOKEN, ENV_CAPTURE)
# until the package is reinstalled with its entry point, inner sessions load the plugin by name;
# checked as pytest loads plugins (every distribution, not the first of each name)
INSTALLED = any(ep.group == "pytest11" and ep.value == MODULE
                for dist in distributions() for ep in dist.entry_points)
LOAD = () if INSTALLED else ("-p", MODULE)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    return write_capture(tmp_path / "replayed.jsonl", 400)


def refused(url: str) -> bool:
    host, port = url.split("//")[1].split("/")[0].split(":")  # http://127.0.0.1:<port>
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_the_plugin_is_declared_as_a_pytest11_entry_point():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert MODULE in project["entry-points"]["pytest11"].values()


@pytest.mark.usefixtures("clean_env")
def test_without_the_option_nothing_is_started_or_exported(pytester: pytest.Pytester):
    pytester.makepyfile("""
        import os, threading
        def test_plain():
            names = {"OPENAGI_NB_URL", "OPENAGI_NB_TOKEN", "OPENAGI_NB_CAPTURE"}
            assert not names & set(os.environ)
            assert "replay-server" not in [t.name for t in threading.enumerate()]
    """)
    result = pytester.runpytest_inprocess(*LOAD)
    result.assert_outcomes(passed=1)
    assert "openagi-nb: replaying" not in result.stdout.str()


@pytest.mark.usefixtures("clean_env")
def test_the_session_gets_a_live_replay_with_url_token_and_capture(pytester, capture):
    pytester.makepyfile("""
        import json, os, websocket
        def test_live():
            api = os.environ["OPENAGI_NB_URL"].replace("http", "ws", 1) + "/api/v1/ws"
            ws = websocket.create_connection(api + "?token=" + os.environ["OPENAGI_NB_TOKEN"],
                                             timeout=10)
            ws.send(json.dumps({"type": "subscribe", "channel": "monitoring_events"}))
            kinds = [json.loads(ws.recv())["type"] for _ in range(3)]
            ws.close()
            assert "monitoring_event" in kinds
            print("CAPTURE=" + os.environ["OPENAGI_NB_CAPTURE"])
    """)
    result = pytester.runpytest_inprocess(*LOAD, "-s", "--openagi-capture", str(capture),
                                          "--openagi-speed", "max")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"openagi-nb: replaying {capture} at speed max*",
                                 f"*CAPTURE={capture}"])


@pytest.mark.usefixtures("clean_env")
def test_a_relative_capture_is_exported_absolute(pytester):
    write_capture(pytester.path / "here.jsonl", 40)
    pytester.makepyfile(f"""
        import os
        def test_path():
            assert os.environ["OPENAGI_NB_CAPTURE"] == {str(pytester.path / "here.jsonl")!r}
    """)
    result = pytester.runpytest_inprocess(*LOAD, "--openagi-capture", "here.jsonl")
    result.assert_outcomes(passed=1)


def test_after_the_session_the_server_is_stopped_and_the_variables_restored(
    pytester, capture, monkeypatch, tmp_path
):
    monkeypatch.setenv(ENV_URL, "ws://example.invalid/before")
    monkeypatch.delenv(ENV_TOKEN, raising=False)
    seen = tmp_path / "seen.json"
    pytester.makepyfile(f"""
        import json, os
        def test_record():
            with open({str(seen)!r}, "w") as f:
                json.dump(os.environ["OPENAGI_NB_URL"], f)
    """)
    pytester.runpytest_inprocess(*LOAD, "--openagi-capture", str(capture)).assert_outcomes(
        passed=1)
    url = json.loads(seen.read_text())
    assert url.startswith("http://127.0.0.1:")
    assert os.environ[ENV_URL] == "ws://example.invalid/before"
    assert ENV_TOKEN not in os.environ
    assert refused(url)


@pytest.mark.slow
@pytest.mark.usefixtures("clean_env")
def test_kernels_started_by_nbval_inherit_the_replay(pytester, capture):
    source = ("import os, urllib.request\n"
              "base = os.environ['OPENAGI_NB_URL']\n"
              "status = urllib.request.urlopen(base + '/api/v1/status', timeout=10).status\n"
              "print(os.path.basename(os.environ['OPENAGI_NB_CAPTURE']), status,\n"
              "      len(os.environ['OPENAGI_NB_TOKEN']) > 20)")
    cell = new_code_cell(source, execution_count=1, outputs=[
        new_output("stream", name="stdout", text="replayed.jsonl 200 True\n")])
    nb = new_notebook(cells=[cell], metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, pytester.path / "uses_replay.ipynb")
    # a subprocess: nbval leaves an open /dev/null behind per kernel, which would surface as a
    # ResourceWarning in whichever test of this session collects it
    result = pytester.runpytest_subprocess(*LOAD, "--nbval", "--nbval-current-env",
                                           "--openagi-capture", str(capture), timeout=120)
    result.assert_outcomes(passed=1)


@pytest.mark.usefixtures("clean_env")
def test_a_missing_capture_is_a_usage_error(pytester):
    pytester.makepyfile("def test_never(): pass")
    result = pytester.runpytest_inprocess(*LOAD, "--openagi-capture", "nope.jsonl.gz")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--openagi-capture: capture: no such file*nope.jsonl.gz*"])


@pytest.mark.usefixtures("clean_env")
def test_a_speed_without_a_capture_is_a_usage_error(pytester):
    pytester.makepyfile("def test_never(): pass")
    result = pytester.runpytest_inprocess(*LOAD, "--openagi-speed", "5")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--openagi-speed needs --openagi-capture*"])


@pytest.mark.usefixtures("clean_env")
def test_a_bad_speed_is_a_usage_error(pytester, capture):
    pytester.makepyfile("def test_never(): pass")
    result = pytester.runpytest_inprocess(*LOAD, "--openagi-capture", str(capture),
                                          "--openagi-speed", "-1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--openagi-speed: speed must be positive, got '-1'*"])


@pytest.mark.usefixtures("clean_env")
def test_replay_environment_exports_while_running_and_restores_after(capture):
    with ReplayEnvironment(capture, speed=1000.0) as replay:
        url = replay.url
        assert os.environ[ENV_URL] == url
        assert os.environ[ENV_CAPTURE] == str(capture)
        token = os.environ[ENV_TOKEN]
        websocket.create_connection(f"{replay.ws_url}?token={token}", timeout=10).close()
    assert not set(VARIABLES) & set(os.environ)
    assert refused(url)


def test_replay_environment_needs_an_existing_capture(tmp_path):
    with pytest.raises(ServerConfigError, match="no such file"):
        ReplayEnvironment(tmp_path / "missing.jsonl")


@pytest.mark.usefixtures("clean_env")
def test_replay_environment_never_shows_its_token(capture):
    with ReplayEnvironment(capture) as replay:
        assert os.environ[ENV_TOKEN] not in repr(replay)
