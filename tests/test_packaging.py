"""Packaging: the public names, the dependency lists, the console entry points."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

import openagi_nb

ROOT = Path(__file__).resolve().parents[1]


def requirement(spec: str) -> tuple[str, str]:
    """``(name, version)`` of a requirement; pip's extras (``dask[dataframe]``) are dropped:
    conda packages have none (conda-forge's dask is the one with the dataframe part)."""
    name, version = re.fullmatch(r"([A-Za-z0-9_.\-]+)(?:\[[^]]*\])?\s*(.*)",
                                 spec.strip()).groups()
    return name.lower().replace("_", "-"), version.replace(" ", "")


def test_import_loads_nothing_heavy():
    code = ("import sys, openagi_nb; "
            "print(sorted(m for m in ('pandas', 'plotly', 'aiohttp') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]"]


def test_all_is_sorted_and_every_name_exists():
    assert openagi_nb.__all__ == sorted(openagi_nb.__all__)
    assert set(openagi_nb.__all__) == {*openagi_nb._HOMES, *openagi_nb._MODULES, "__version__"}
    for name in openagi_nb.__all__:
        assert hasattr(openagi_nb, name), name


def test_the_names_of_the_design_are_exported():
    assert {"load_capture", "Capture", "EventStream", "fetch_token", "InvalidMessage",
            "CaptureError", "widgets"} <= set(openagi_nb.__all__)


def test_widgets_load_on_first_use():
    code = ("import sys, openagi_nb as oa; before = 'plotly' in sys.modules; "
            "oa.widgets.plot_metric; print(before, 'plotly' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


def test_import_is_cheap_and_starts_nothing():
    code = ("import sys, threading, openagi_nb; "
            "print(sorted(m for m in ('plotly', 'ipywidgets', 'aiohttp') "
            "if m in sys.modules), threading.active_count())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]", "1"]


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + project["optional-dependencies"]["test"]
    wanted = dict(map(requirement, specs))
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    listed = dict(requirement(d) for d in env["dependencies"] if isinstance(d, str))
    python = listed.pop("python")
    listed.pop("pip")
    assert listed == wanted
    assert python == project["requires-python"]


def test_python_dash_m_runs_the_cli():
    out = subprocess.run([sys.executable, "-m", "openagi_nb", "--version"], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == f"openagi-nb {openagi_nb.__version__}"
