"""HTML of the report: escaped text, tables, thumbnails as embedded PNG, one inline style sheet.

The page needs nothing but itself: no script, no font, no style sheet or image from elsewhere
(every picture is a ``data:`` URL), so it opens from disk, offline, in any browser.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pandas as pd

from ..plot import OUTLINE_COLOURS, Thumbnail

__all__ = ["CSS", "Cell", "badge", "esc", "figure", "page", "section", "table"]

#: A table cell: text (escaped), or (text, CSS class), or ready HTML wrapped in :class:`Raw`.
Cell = Any


class Raw(str):
    """Text that is HTML already (built here from escaped parts)."""


CSS = """
:root { --ok: #1a7f37; --ambiguous: #b35900; --missing: #c2185b; --line: #d0d7de; --soft: #f6f8fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       color: #1f2328; margin: 0; background: #fff; }
header { background: #24292f; color: #fff; padding: 18px 28px 12px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header .sub { color: #c9d1d9; margin: 0 0 10px; font-size: 13px; word-break: break-all; }
.facts { display: flex; flex-wrap: wrap; gap: 8px; margin: 0; padding: 0; list-style: none; }
.facts li { background: #32383f; border-radius: 6px; padding: 6px 12px; }
.facts b { font-size: 18px; margin-right: 4px; }
.facts li.warn { background: #6e3a00; } .facts li.bad { background: #7a0c3b; }
nav { position: sticky; top: 0; background: #fff; border-bottom: 1px solid var(--line); padding: 8px 28px; z-index: 2; }
nav a { margin-right: 16px; color: #0969da; text-decoration: none; }
section { padding: 8px 28px 18px; border-bottom: 1px solid var(--line); }
h2 { font-size: 18px; margin: 14px 0 6px; } h3 { font-size: 15px; margin: 14px 0 6px; }
p.note { color: #57606a; margin: 4px 0 10px; max-width: 100ch; }
table { border-collapse: collapse; font-size: 13px; margin: 4px 0 8px; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: var(--soft); position: sticky; top: 37px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.path { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px;
          word-break: break-all; min-width: 26ch; }
td { max-width: 60ch; }
.scroll { max-height: 640px; overflow: auto; border: 1px solid var(--line); display: inline-block; max-width: 100%; }
.scroll table { margin: 0; } .scroll th { top: 0; }
.ok { color: var(--ok); } .ambiguous { color: var(--ambiguous); } .missing, .none { color: var(--missing); }
td.ok { background: #e6f4ea; } td.ambiguous { background: #fff1e0; } td.missing, td.none { background: #fde7ef; }
.badge { display: inline-block; border-radius: 10px; padding: 0 8px; font-size: 12px; font-weight: 600; color: #fff; }
.badge.ok { background: var(--ok); } .badge.ambiguous { background: var(--ambiguous); }
.badge.missing, .badge.none { background: var(--missing); }
.empty { color: #57606a; font-style: italic; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; width: 176px; border: 1px solid var(--line); border-radius: 6px; padding: 8px;
         background: var(--soft); }
figure img { display: block; margin: 0 auto 4px; background: #000; image-rendering: pixelated; }
figure .blank { height: 120px; display: flex; align-items: center; justify-content: center; color: #57606a;
                background: #eaeef2; margin-bottom: 4px; text-align: center; font-size: 12px; padding: 4px; }
figcaption { font-size: 12px; line-height: 1.35; word-break: break-word; }
figcaption .problem { color: var(--missing); }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 3px;
          vertical-align: -1px; }
footer { padding: 12px 28px 24px; color: #57606a; font-size: 12px; }
"""


def esc(value: Any) -> str:
    """Escaped text of a value (``Raw`` passes through)."""
    if isinstance(value, Raw):
        return str(value)
    return html.escape("" if value is None else str(value), quote=True)


def badge(status: str) -> Raw:
    """A coloured status label."""
    return Raw(f'<span class="badge {esc(status)}">{esc(status)}</span>')


def table(
    frame: pd.DataFrame,
    headers: dict[str, str],
    *,
    cell: Callable[[str, Any, pd.Series], Cell] | None = None,
    limit: int = 500,
    more: str = "",
    scroll: bool = False,
) -> str:
    """An HTML table of ``frame``'s columns named in ``headers`` (at most ``limit`` rows, then a note)."""
    if frame.empty:
        return '<p class="empty">None.</p>'
    head = "".join(f"<th>{esc(label)}</th>" for label in headers.values())
    body = []
    for _, row in frame.head(limit).iterrows():
        cells = []
        for column in headers:
            value = row.get(column)
            shown = cell(column, value, row) if cell is not None else value
            css = ""
            if isinstance(shown, tuple):
                shown, css = shown
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                css = "num"
            text = ", ".join(map(str, shown)) if isinstance(shown, (list, tuple)) else shown
            cells.append(f'<td class="{css}">{esc(text)}</td>' if css else f"<td>{esc(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    out = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    if scroll:
        out = f'<div class="scroll">{out}</div>'
    if len(frame) > limit:
        out += f'<p class="note">{len(frame) - limit} more rows are not shown. {esc(more)}</p>'
    return out


def _hex(colour: Sequence[int]) -> str:
    return "#" + "".join(f"{v:02x}" for v in colour)


def figure(caption: Iterable[str], picture: Thumbnail | None, *, note: str = "") -> str:
    """One thumbnail with its caption lines, legend and problems (or why there is no picture)."""
    lines = [esc(line) for line in caption]
    if picture is not None and picture.z is not None:
        lines.append(esc(f"slice {picture.z + 1} of {picture.n_slices}"))
    if picture is not None:
        for roi, colour in picture.regions.items():
            swatch = f'<span class="swatch" style="background:{_hex(OUTLINE_COLOURS[colour])}"></span>'
            masks = picture.masks.get(roi, [])
            lines.append(swatch + esc(roi + (f" ({len(masks)} masks)" if len(masks) > 1 else "")))
        if picture.empty:
            lines.append(esc("not on this slice: " + ", ".join(dict.fromkeys(picture.empty))))
        lines += [f'<span class="problem">{esc(p)}</span>' for p in picture.problems]
    if picture is not None and picture.png:
        data = base64.b64encode(picture.png).decode("ascii")
        image = f'<img src="data:image/png;base64,{data}" width="{picture.width}" height="{picture.height}" alt="">'
    else:
        image = f'<div class="blank">{esc(note or "no picture")}</div>'
    return f"<figure>{image}<figcaption>{'<br>'.join(lines)}</figcaption></figure>"


def section(anchor: str, title: str, note: str, body: str) -> str:
    """A section of the page with its anchor, title and a line saying what it shows."""
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2><p class="note">{note}</p>{body}</section>'


def page(title: str, subtitle: str, facts: list[tuple[Any, str, str]], sections: list[tuple[str, str, str]]) -> str:
    """The whole page: header with the key facts, a navigation bar, the sections."""
    items = "".join(f'<li class="{esc(css)}"><b>{esc(n)}</b>{esc(label)}</li>' for n, label, css in facts)
    links = "".join(f'<a href="#{esc(anchor)}">{esc(name)}</a>' for anchor, name, _ in sections)
    body = "".join(html_ for _, _, html_ in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f'<header><h1>{esc(title)}</h1><p class="sub">{esc(subtitle)}</p><ul class="facts">{items}</ul></header>'
        f"<nav>{links}</nav>{body}"
        "<footer>Written by imgindex from the index alone (thumbnails read the voxels). "
        "Self-contained: no script, no network.</footer></body></html>\n"
    )
