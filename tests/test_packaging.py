"""Packaging: the public names, the dependency lists, the console entry points, and what a
built wheel holds (the notebooks too, where ``openagi-nb report`` finds them)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
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


def test_pages_import_papermill_and_nbconvert_only_to_make_a_report():
    code = ("import sys, openagi_nb.pages as p; p.report, p.REPORTS; "
            "print(sorted(m for m in ('papermill', 'nbconvert', 'nbclient') if m in sys.modules))")
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


def test_the_listed_packages_are_the_source_tree_and_the_notebooks():
    """pyproject lists the packages (so notebooks/ can be one); a new subpackage must be added."""
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    source = {".".join(p.parent.relative_to(ROOT).parts)
              for p in (ROOT / "openagi_nb").rglob("__init__.py")}
    assert set(tool["packages"]) == source | {"openagi_nb.notebooks"}
    assert tool["package-dir"] == {"openagi_nb.notebooks": "notebooks"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel pip builds of a copy of the project (the build leaves build/ and egg-info
    beside the sources it is given)."""
    base = tmp_path_factory.mktemp("wheel")
    project = base / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, project / name)
    for name in ("openagi_nb", "notebooks"):
        shutil.copytree(ROOT / name, project / name,
                        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w",
                    str(base / "dist"), str(project)], check=True, capture_output=True,
                   timeout=110)
    (built,) = (base / "dist").glob("openagi_nb-*.whl")
    return built


@pytest.mark.slow
def test_the_wheel_carries_every_module_and_the_notebooks(wheel):
    from openagi_nb.pages import REPORTS

    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "openagi_nb").rglob("*.py")}
    notebooks = {f"openagi_nb/notebooks/{p.name}" for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert modules <= names
    assert {f"openagi_nb/notebooks/{path.name}" for path in REPORTS.values()} <= notebooks
    assert notebooks <= names
    assert "openagi_nb/py.typed" in names


@pytest.mark.slow
def test_an_installed_wheel_finds_its_report_notebooks_and_runs_them(wheel, tmp_path):
    """Unpacked as pip installs it, away from the repository: REPORTS are its own files, and
    ``openagi-nb report`` runs one of them (its kernel imports the unpacked package too)."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import openagi_nb, openagi_nb.pages as p; print(openagi_nb.__file__); "
            "print(*sorted(str(v) for v in p.REPORTS.values() if v.is_file()), sep='\\n')")
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=tmp_path, env=env).stdout.split()
    assert out == [str(site / "openagi_nb" / "__init__.py"), *(
        str(site / "openagi_nb" / "notebooks" / name) for name in (
            "01_monitoring_metrics.ipynb", "02_security_audit.ipynb",
            "03_consensus_review.ipynb"))]
    html = tmp_path / "report.html"
    subprocess.run([sys.executable, "-m", "openagi_nb", "report",
                    str(ROOT / "data" / "sample_capture.jsonl.gz"), "--notebook", "consensus",
                    "-o", str(html)], check=True, capture_output=True, cwd=tmp_path, env=env,
                   timeout=110)
    assert "Consensus review" in html.read_text(encoding="utf-8")
