"""Charts of the reports as SVG, drawn on the server by pygal (no JavaScript, no CDN).

In: a `statistics.Report` whose `chart` says what to draw, and translated labels. Out: SVG
bytes without any script (pygal adds a config script for its optional JS; we strip it).
The SVG is served as an image of its own (`<img src>`), with its own CSP: its embedded
style applies inside the image only, and the pages keep theirs.
"""
from __future__ import annotations

import functools
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


MEMO_POINTS = 1_000  # larger charts (time spent over thousands of contracts) are drawn each time, not kept


def svg(report: Report, title: str, labels: dict[str, str]) -> bytes:
    """The report's chart; `labels` translates column names for the legend."""
    chart = report.chart
    # each value with its type: 1 and 1.0 are equal keys, but pygal may print them differently
    series = tuple((labels.get(name, name), tuple((type(row[column]), row[column]) for row in report.rows))
                   for column in chart.series for name in (report.columns[column],))
    x_labels = tuple(str(row[chart.label]) for row in report.rows)
    if len(x_labels) * len(series) > MEMO_POINTS:
        return _draw(chart.kind, title, x_labels, series)
    return _drawn(chart.kind, title, x_labels, series)


def _draw(kind: str, title: str, x_labels: tuple[str, ...], series: tuple[tuple[str, tuple], ...]) -> bytes:
    drawing = KINDS[kind](js=[], style=STYLE, width=820, height=380, title=title, legend_at_bottom=True,
                          x_label_rotation=30 if kind != "hbar" else 0, print_values=False,
                          show_legend=len(series) > 1, disable_xml_declaration=True,
                          no_data_text="—", truncate_legend=40)
    drawing.x_labels = list(x_labels)
    for name, values in series:
        drawing.add(name, [value for _, value in values])
    rendered = drawing.render()
    return SCRIPT.sub(b"", rendered.encode() if isinstance(rendered, str) else rendered)


# The SVG of exactly these inputs (pygal's drawing is most of a chart's cost, ~25 ms): the
# title and legend are in the words of the reader's language and the figures are the
# report's, so a kept drawing is never one of other data.
_drawn = functools.lru_cache(maxsize=32)(_draw)
