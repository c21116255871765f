"""An article's Markdown as HTML that is safe to put in a page.

markdown-it-py (CommonMark, with tables and strikethrough) renders the text with raw
HTML turned off, so `<script>` in an article is text; nh3 then cleans the result against
a list of tags and attributes anyway (a link's `javascript:` URL, an image's `onerror`),
so whatever the renderer lets through, only these tags, http(s)/mailto links and
http(s) images reach the page. Pure: no I/O.
"""
from __future__ import annotations

import functools
import html

import nh3
from markdown_it import MarkdownIt

TAGS = {"a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i",
        "img", "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul"}
ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "th": {"align"}, "td": {"align"},
              "ol": {"start"}}
URL_SCHEMES = {"http", "https", "mailto"}
_renderer = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
    ["table", "strikethrough"])


def to_html(markdown: str) -> str:
    """The article's body as sanitised HTML."""
    markdown = markdown or ""
    return _memoised_html(markdown) if len(markdown) <= MEMOISED_CHARS else _html(markdown)


MEMOISED_CHARS = 20_000  # 256 of these at most: about 10 MB of text and HTML


@functools.lru_cache(maxsize=256)
def _memoised_html(markdown: str) -> str:
    # An article page renders the same body for every reader: rendering and cleaning it cost
    # a tenth of the page. Keyed by the text itself, so an edited article is rendered again.
    return _html(markdown)


def _html(markdown: str) -> str:
    return nh3.clean(_renderer.render(markdown), tags=TAGS, attributes=ATTRIBUTES, url_schemes=URL_SCHEMES,
                     link_rel="noopener noreferrer nofollow")


def plain_text(markdown: str) -> str:
    """The article's words without markup (for the search document and previews)."""
    return html.unescape(nh3.clean(_renderer.render(markdown or ""), tags=set()))
