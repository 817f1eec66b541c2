"""A plain-text rendering of an HTML body, for the text/plain alternative.

Deliberately simple: the text of the document without scripts, styles and
the head; a line break for each block element and `<br>`; a link's target
after its text when the two differ (`text (url)`); an image's alt text; runs
of spaces collapsed; at most one blank line in a row.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCKS = frozenset(
    {"p", "div", "ul", "ol", "table", "blockquote", "pre", "hr", "section", "article"}
    | {"header", "footer", "h1", "h2", "h3", "h4", "h5", "h6"}
)
_LINES = frozenset({"br", "li", "tr"})  # start a line, no blank line around them
_HIDDEN = frozenset({"script", "style", "head", "title"})


def html_to_text(html: str) -> str:
    # After the last `>` there is no complete tag, only text. HTMLParser would
    # rescan that tail to its end for every `<` in it (quadratic on `<a <a ...`):
    # hand it the tail with its `<` escaped instead.
    end = html.rfind(">") + 1
    if "<" in html[end:]:
        html = html[:end] + html[end:].replace("<", "&lt;")
    parser = _Text()
    parser.feed(html)
    parser.close()
    return parser.text()


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0
        self.links: list[tuple[str | None, int]] = []  # (href, index of the link's first part)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden += 1
        elif tag in _BLOCKS or tag in _LINES:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("- ")
        elif tag == "a":
            self.links.append((dict(attrs).get("href"), len(self.parts)))
        elif tag == "img" and (alt := dict(attrs).get("alt")):
            self.parts.append(alt)

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            label = "".join(self.parts[start:]).strip()
            if href and href != label and not href.startswith(("#", "mailto:")):
                self.parts.append(f" ({href})" if label else href)

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)

    def text(self) -> str:
        raw = "".join(self.parts).split("\n")
        lines = (re.sub(r"[ \t\r\f\v\xa0]+", " ", line).strip() for line in raw)
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"
