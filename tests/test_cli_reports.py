"""``openagi-nb report`` refusing what it cannot do: one line on stderr, exit 2 for bad usage and
1 for what the library refuses, before any kernel starts. (Reports that run:
``test_pages_report.py``.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from openagi_nb.cli import main
from openagi_nb.cli._reports import parameter_value

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = str(ROOT / "data" / "sample_capture.jsonl.gz")


def report(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    try:
        code = main(["report", *args])
    except SystemExit as exc:  # argparse's usage errors
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    assert captured.out == ""
    return code, captured.err


def test_an_unknown_notebook_name_is_a_usage_error_listing_the_names(capsys, tmp_path):
    code, err = report(capsys, SAMPLE, "--notebook", "secrity", "-o", str(tmp_path / "r.html"))
    assert code == 2
    assert err.splitlines()[-1] == (
        "openagi-nb report: error: argument --notebook: unknown notebook 'secrity': give one of "
        "consensus, monitoring, security, or the path of an .ipynb file")


def test_a_missing_notebook_file_is_named(capsys, tmp_path):
    code, err = report(capsys, SAMPLE, "--notebook", str(tmp_path / "mine.ipynb"))
    assert code == 2
    assert err.splitlines()[-1].endswith(f"notebook {tmp_path / 'mine.ipynb'} does not exist "
                                         "(or give one of consensus, monitoring, security)")


def test_a_missing_capture_is_named(capsys, tmp_path):
    code, err = report(capsys, str(tmp_path / "nope.jsonl.gz"), "-o", str(tmp_path / "r.html"))
    assert (code, err) == (1, f"openagi-nb report: error: {tmp_path / 'nope.jsonl.gz'}: "
                              "no such file\n")


def test_a_file_that_is_not_a_capture_says_why(capsys, tmp_path):
    text = tmp_path / "notes.jsonl"
    text.write_text("hello\nworld\n")
    code, err = report(capsys, str(text), "-o", str(tmp_path / "r.html"))
    assert code == 1
    assert err.startswith(f"openagi-nb report: error: {text}: not a capture: none of its 2 "
                          "lines is a message (line 1: invalid JSON")


def test_a_capture_that_is_not_gzip_says_so(capsys, tmp_path):
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(b"not gzip at all\n")
    code, err = report(capsys, str(bad), "-o", str(tmp_path / "r.html"))
    assert code == 1
    assert err.startswith(f"openagi-nb report: error: {bad}: ")
    assert "gzip" in err


def test_an_unknown_parameter_lists_the_notebooks_parameters(capsys, tmp_path):
    code, err = report(capsys, SAMPLE, "-p", "LIVE_SECOND", "5", "-o", str(tmp_path / "r.html"))
    assert (code, err) == (1, "openagi-nb report: error: 02_security_audit.ipynb has no "
                              "parameter 'LIVE_SECOND': its parameters are LIVE_SECONDS, "
                              "LIVE_URL, SAMPLE\n")


@pytest.mark.parametrize(("args", "message"), [
    (["-p", "1x", "5"], "'1x' is not a parameter name (a Python identifier)"),
    (["-p", "CAPTURE", "x.jsonl"],
     "CAPTURE is the report's capture argument, not one of its parameters"),
])
def test_a_bad_parameter_is_refused(capsys, tmp_path, args, message):
    code, err = report(capsys, SAMPLE, *args, "-o", str(tmp_path / "r.html"))
    assert (code, err) == (1, f"openagi-nb report: error: {message}\n")


def test_a_parameter_without_a_value_is_a_usage_error(capsys):
    code, err = report(capsys, SAMPLE, "-p", "LIVE_SECONDS")
    assert code == 2
    assert err.splitlines()[-1] == ("openagi-nb report: error: argument -p/--parameter: "
                                    "expected 2 arguments")


def test_a_notebook_without_a_capture_parameter_is_refused(capsys, tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nb = tmp_path / "plain.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("x = 1")]), nb)
    code, err = report(capsys, SAMPLE, "--notebook", str(nb), "-o", str(tmp_path / "r.html"))
    assert (code, err) == (1, "openagi-nb report: error: plain.ipynb has no CAPTURE parameter: a "
                              "report needs a code cell tagged 'parameters' that sets CAPTURE\n")


def test_a_file_that_is_not_a_notebook_is_refused(capsys, tmp_path):
    nb = tmp_path / "broken.ipynb"
    nb.write_text('{"cells": 1}')
    code, err = report(capsys, SAMPLE, "--notebook", str(nb), "-o", str(tmp_path / "r.html"))
    assert code == 1
    assert err.startswith(f"openagi-nb report: error: cannot read notebook {nb}: ")


@pytest.mark.parametrize("option", ["-o", "--keep-notebook"])
def test_a_missing_output_directory_is_named(capsys, tmp_path, option):
    where = tmp_path / "no" / "such"
    code, err = report(capsys, SAMPLE, option, str(where / "r.x"))
    assert (code, err) == (1, f"openagi-nb report: error: cannot write {where / 'r.x'}: "
                              f"directory {where} does not exist\n")


def test_an_output_that_is_a_directory_is_refused(capsys, tmp_path):
    code, err = report(capsys, SAMPLE, "-o", str(tmp_path))
    assert (code, err) == (1, f"openagi-nb report: error: cannot write {tmp_path}: "
                              "it is a directory\n")


def test_a_bad_timeout_is_a_usage_error(capsys):
    code, err = report(capsys, SAMPLE, "--timeout", "soon")
    assert code == 2
    assert "invalid duration 'soon'" in err


@pytest.mark.parametrize(("text", "value"), [
    ("None", None), ("True", True), ("False", False), ("10", 10), ("2.5", 2.5),
    ("1e3", 1000.0), ("http://host:8080", "http://host:8080"), ("", ""),
])
def test_parameter_values_are_typed_as_papermill_types_them(text, value):
    assert parameter_value(text) == value
    assert type(parameter_value(text)) is type(value)


def test_without_the_pages_extra_it_says_what_to_install(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "papermill", None)  # as if not installed
    code, err = report(capsys, SAMPLE, "-o", str(tmp_path / "r.html"))
    assert (code, err) == (1, "openagi-nb report: error: reports need papermill and nbconvert "
                              "(papermill is missing): pip install 'openagi-nb[pages]'\n")


def test_errors_are_one_line_without_a_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "openagi_nb", "report", "missing.jsonl.gz"],
        capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 1
    assert result.stderr == "openagi-nb report: error: missing.jsonl.gz: no such file\n"
