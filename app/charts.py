"""Charts for the dashboard and the notice board: SVG drawn on the server by pygal.

Each chart is rendered without pygal's scripts and handed to the page as an
``<img>`` with a ``data:`` URL: an image runs no script and its styles are its
own, so the pages keep a Content-Security-Policy with no inline scripts or
styles (``img-src`` allows ``data:``). Every chart carries its figures as a
table too, for screen readers and for anyone who wants the numbers.
"""

import base64
import re
import sys
from dataclasses import dataclass

import pygal
from pygal.style import Style

# pygal adds an import hook for its optional map packages (``pygal.maps.*``), none of which
# Jifen uses; its old-style finder makes every later import warn (an ImportWarning).
sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, pygal.PluginImportFixer)]

#: Fonts with Chinese first: the SVG is drawn by the reader's browser.
FONTS = '"Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", "WenQuanYi Micro Hei", sans-serif'

STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#333333",
    foreground_strong="#111111",
    foreground_subtle="#e4e4e4",
    opacity="1",
    opacity_hover="1",
    colors=("#b22222", "#1f6fb2", "#2e8b57", "#7d4fb2", "#c97a0a", "#5a6b7b"),
    font_family=FONTS,
    label_font_family=FONTS,
    major_label_font_family=FONTS,
    legend_font_family=FONTS,
    title_font_family=FONTS,
    value_font_family=FONTS,
    no_data_font_family=FONTS,
    label_font_size=15,
    major_label_font_size=15,
    legend_font_size=16,
    title_font_size=20,
    value_font_size=14,
    no_data_font_size=24,
)


SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL)


@dataclass(frozen=True)
class Chart:
    title: str
    #: ``data:image/svg+xml;base64,...``: the drawn chart.
    uri: str
    #: The same figures as a table: column headings, then one row per label.
    headings: list[str]
    rows: list[list]

    @property
    def empty(self) -> bool:
        return not any(value for row in self.rows for value in row[1:])


def bar_chart(
    title: str,
    labels: list[str],
    series: list[tuple[str, list[int]]],
    *,
    horizontal: bool = False,
    no_data: str = "",
) -> Chart:
    """Bars of one or more series over ``labels`` (months, merchants, categories)."""
    kind = pygal.HorizontalBar if horizontal else pygal.Bar
    chart = kind(
        style=STYLE,
        js=[],
        disable_xml_declaration=True,
        width=600,
        height=380 if not horizontal else max(240, 60 + 40 * len(labels)),
        show_legend=len(series) > 1,
        legend_at_bottom=True,
        legend_at_bottom_columns=min(len(series), 3) or 1,
        truncate_legend=-1,
        truncate_label=-1,
        x_label_rotation=0 if horizontal or len(labels) <= 6 else 35,
        print_values=False,
        margin=16,
        no_data_text=no_data,
        value_formatter=lambda value: f"{value:,.0f}",
    )
    chart.title = title
    chart.x_labels = labels
    for name, values in series:
        chart.add(name, values)
    # pygal writes its tooltips' configuration as a script even without its scripts: an
    # image runs none, and the chart is drawn without it.
    svg = SCRIPT.sub("", chart.render(is_unicode=True)).encode("utf-8")
    return Chart(
        title=title,
        uri="data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii"),
        headings=["", *(name for name, _values in series)],
        rows=[[label, *(values[i] for _name, values in series)] for i, label in enumerate(labels)],
    )
