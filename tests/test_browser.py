"""The headless-Chromium harness (tests/browser.py) catches what it must, and a report of a
sparse run renders in the browser with every section and no console errors."""

from __future__ import annotations

import json

from jobs.report import saved_config, write_report
from jobs.report_html import SECTIONS
from wfcore import storage

from .browser import render
from .test_audit import _tiny_run
from .test_cost import _run_with_model_stages


def test_console_errors_and_uncaught_exceptions_are_reported(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text(
        '<!doctype html><p id="x">hi</p><script>console.log("all-good"); console.error("boom");'
        " missingFunction();</script>"
    )
    r = render(str(page))
    assert '<p id="x">hi</p>' in r.dom
    assert any("boom" in x for x in r.errors)
    assert any("missingFunction" in x for x in r.errors)
    assert not any("all-good" in x for x in r.errors)


def test_requests_that_leave_the_file_are_reported(tmp_path):
    page = tmp_path / "remote.html"
    page.write_text('<!doctype html><img src="http://127.0.0.1:9/pixel.png"><p>x</p>')
    r = render(str(page))
    assert r.remote_requests() == ["http://127.0.0.1:9/pixel.png"]


def test_report_of_a_sparse_run_renders_every_section_without_errors(tmp_path):
    rd = _tiny_run(tmp_path / "run")
    storage.write_json_atomic(
        rd.path("eval", "summary.json"), {"win_rate": 0.61, "ci_low": 0.5, "n_prompts": 40}
    )
    write_report(rd, saved_config(rd))
    r = render(rd.path("report.html"))
    assert r.errors == [] and r.remote_requests() == []
    for sid, title in SECTIONS:
        assert f'<section id="{sid}">' in r.dom
        assert f'<a href="#{sid}">{title}</a>' in r.dom, (
            "the table of contents is built by the page's script"
        )
    assert "61.0%" in r.dom
    data = r.dom.split('<script type="application/json" id="report">')[1].split("</script>")[0]
    assert json.loads(data)["run"] == rd.uri


def test_projected_cost_of_a_model_run_renders_beside_the_funnel(tmp_path):
    rd = _run_with_model_stages(tmp_path / "run")
    write_report(rd, saved_config(rd))
    r = render(rd.path("report.html"))
    assert r.errors == [] and r.remote_requests() == []
    order = [r.dom.index(f'<section id="{sid}">') for sid in ("funnel", "cost", "categories")]
    assert order == sorted(order), "the projection comes right after the funnel"
    section = r.dom.split('<section id="cost">')[1].split("</section>")[0]
    line = section.split('id="cost-line">')[1].split("</p>")[0]
    assert "1,000,000" in line and "GPU-hours" in line
    rows = section.split("<tr>")[2:]
    assert [x.split("</td>")[0].split(">")[-1] for x in rows] == ["detect", "respond"]
    sources = section.split('id="cost-sources">')[1].split("</ol>")[0]
    assert sources.count("<li>") >= 2 and "Lambda" in sources
