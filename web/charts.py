"""Charts of the reports as SVG, drawn on the server by pygal (no JavaScript, no CDN).

In: a `statistics.Report` whose `chart` says what to draw, and translated labels. Out: SVG
bytes without any script (pygal adds a config script for its optional JS; we strip it).
The SVG is served as an image of its own (`<img src>`), with its own CSP: its embedded
style applies inside the image only, and the pages keep theirs.
"""
from __future__ import annotations

import re
import sys

import pygal
from pygal.style import Style

# pygal appends a finder for its map plugins (which we do not use) to sys.meta_path; it has
# no find_spec, so every import that reaches it warns (ImportWarning) from Python 3.10 on.
sys.meta_path[:] = [finder for finder in sys.meta_path if type(finder).__module__ != "pygal"]

from helpdesk.domain.statistics import Report  # noqa: E402 (after the meta_path repair above)

SCRIPT = re.compile(rb"<script\b.*?</script>", re.DOTALL | re.IGNORECASE)
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; script-src 'none'"
STYLE = Style(background="white", plot_background="white", font_family="sans-serif",
              colors=("#1f5fa8", "#c7472e", "#2e8540", "#b57d00", "#6f42c1", "#555555"))
KINDS = {"bar": pygal.Bar, "stacked": pygal.StackedBar, "line": pygal.Line, "hbar": pygal.HorizontalBar}


def svg(report: Report, title: str, labels: dict[str, str]) -> bytes:
    """The report's chart; `labels` translates column names for the legend."""
    chart = report.chart
    drawing = KINDS[chart.kind](js=[], style=STYLE, width=820, height=380, title=title, legend_at_bottom=True,
                                x_label_rotation=30 if chart.kind != "hbar" else 0, print_values=False,
                                show_legend=len(chart.series) > 1, disable_xml_declaration=True,
                                no_data_text="—", truncate_legend=40)
    drawing.x_labels = [str(row[chart.label]) for row in report.rows]
    for column in chart.series:
        name = report.columns[column]
        drawing.add(labels.get(name, name), [row[column] for row in report.rows])
    rendered = drawing.render()
    return SCRIPT.sub(b"", rendered.encode() if isinstance(rendered, str) else rendered)
