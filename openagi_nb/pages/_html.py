"""An executed notebook as one self-contained HTML page without code, that asks nothing of the
network: nbconvert's ``lab`` template with three changes.

- **Figures.** The notebooks store plotly figures as ``application/vnd.plotly.v1+json`` (no
  plotly.js in the notebook), which nbconvert does not draw. Before export each becomes a
  ``text/html`` output: a div and its ``Plotly.newPlot`` call (``plotly.io.to_html`` without
  plotly.js), and plotly.js itself goes inline ONCE, in ``<head>``.
- **No outside requests.** The template's ``<head>`` loads require.js, MathJax and Mermaid
  from cdnjs, and the widget manager from unpkg when a notebook holds widget state: those
  blocks are emptied (plotly.js takes require.js's place, so it defines ``window.Plotly``
  instead of an AMD module). The lab CSS is inlined by nbconvert and holds no ``url()``.
- **What a reader sees.** No code, no prompts; what cells print (stdout and stderr: progress,
  warnings, a live section's "no live server") is left out, as are code cells left with no
  output, cells tagged ``remove-cell``, the outputs of cells tagged ``remove-output``, and,
  unless the report ran live, the cells tagged ``live``.
"""

from __future__ import annotations

import html
from typing import Any, Final

__all__ = ["LIVE_TAG", "PLOTLY_MIME", "to_html"]

PLOTLY_MIME: Final = "application/vnd.plotly.v1+json"
LIVE_TAG: Final = "live"
FIGURE_CONFIG: Final = {"responsive": True, "displaylogo": False}
"""plotly.js options of every figure; the logo is a link out of the page."""

TEMPLATE: Final = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}
<script type="text/javascript">{{ resources.plotly_js }}</script>
{%- endblock html_head_js -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_css -%}
<style type="text/css">
main { max-width: 1200px; margin: 0 auto; }
.openagi-report-footer { max-width: 1200px; margin: 2em auto; padding: 0 24px;
  font-family: var(--jp-ui-font-family); font-size: var(--jp-ui-font-size1);
  color: var(--jp-ui-font-color2); }
</style>
{%- endblock html_head_css -%}
{% block body_footer %}
</main>
<footer class="openagi-report-footer">{{ resources.report_footer }}</footer>
</body>
{% endblock body_footer %}
"""


def to_html(nb: Any, *, live: bool, title: str, footer: str) -> str:
    """The report page of the executed notebook ``nb`` (changed in place).

    Args:
        live: whether the report ran its live section (else cells tagged ``live`` are left out).
        title: the page's ``<title>``.
        footer: plain text at the bottom of the page (escaped here).
    """
    import jinja2
    import plotly.offline
    from nbconvert import HTMLExporter

    _keep_what_readers_see(nb, live=live)
    _draw_figures(nb)
    nb.metadata.pop("widgets", None)
    nb.metadata["title"] = title
    exporter = HTMLExporter(  # type: ignore[no-untyped-call]
        template_name="lab", extra_loaders=[jinja2.DictLoader({"report.html.j2": TEMPLATE})],
        template_file="report.html.j2", exclude_input=True, exclude_input_prompt=True,
        exclude_output_prompt=True, embed_images=True,
    )
    body, _ = exporter.from_notebook_node(nb, resources={
        "plotly_js": plotly.offline.get_plotlyjs(), "report_footer": html.escape(footer)})
    return str(body)


def _keep_what_readers_see(nb: Any, *, live: bool) -> None:
    cells = []
    for cell in nb.cells:
        tags = set(cell.metadata.get("tags", ()))
        if "remove-cell" in tags or (LIVE_TAG in tags and not live):
            continue
        if cell.cell_type == "code":
            cell.outputs = [] if "remove-output" in tags else [
                o for o in cell.outputs if o.output_type != "stream"]
            if not cell.outputs:
                continue
        cells.append(cell)
    nb.cells = cells


def _draw_figures(nb: Any) -> None:
    """Each plotly output becomes the HTML that draws it with the page's plotly.js."""
    import plotly.io as pio

    number = 0
    for cell in nb.cells:
        for output in cell.get("outputs", ()):
            data = output.get("data", {})
            if PLOTLY_MIME not in data:
                continue
            number += 1
            figure = data.pop(PLOTLY_MIME)
            data.pop("text/plain", None)  # else nbconvert may pick it over the figure
            data["text/html"] = pio.to_html(
                dict(figure), include_plotlyjs=False, full_html=False, validate=False,
                div_id=f"figure-{number}", config=FIGURE_CONFIG)
