"""A plain-text rendering of an HTML body, for the text/plain alternative.

Deliberately simple: the text of the document without scripts, styles and
the head; a line break for each block element and `<br>`; a link's target
after its text when the two differ (`text (url)`); an image's alt text; runs
of spaces collapsed; at most one blank line in a row.
"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

_BLOCKS = frozenset(
    {"p", "div", "ul", "ol", "table", "blockquote", "pre", "hr", "section", "article"}
    | {"header", "footer", "h1", "h2", "h3", "h4", "h5", "h6"}
)
_LINES = frozenset({"br", "li", "tr"})  # start a line, no blank line around them
_HIDDEN = frozenset({"script", "style", "head", "title"})


def html_to_text(html: str) -> str:
    fast = _Text()
    if _tokenize(html, fast):
        return fast.text()
    return parsed(html)


def parsed(html: str) -> str:
    """`html_to_text` through HTMLParser alone, for any document."""
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


# The common case without HTMLParser, which reads the document a character
# class at a time (~110 us for a short receipt; this: a fifth of that): one
# regular expression finds the tags, comments and declarations, and the
# handlers get what HTMLParser would give them. Anything it does not
# recognise (a `<` that starts none of these, a tag name or attribute outside
# the plain forms, an unclosed script) leaves the document to HTMLParser;
# tests/unit/test_mime.py holds the two to the same output.
_MARKUP = re.compile(
    r"<(?:"
    r"(?P<tag>[a-zA-Z][a-zA-Z0-9]*)"
    r"(?P<attrs>(?:\s+[a-zA-Z_:][-a-zA-Z0-9_:.]*"
    r"(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'=<>`]+))?)*)"
    r"\s*(?P<closed>/)?"
    r"|/(?P<end>[a-zA-Z][a-zA-Z0-9]*)\s*"
    r"|!--.*?--"
    r"|![a-zA-Z][^<>]*"
    r")>",
    re.DOTALL,
)
_ATTRIBUTE = re.compile(
    r"([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'=<>`]+)))?"
)
_RAW_END = {tag: re.compile(rf"</\s*{tag}\s*>", re.IGNORECASE) for tag in ("script", "style")}


def _tokenize(html: str, out: _Text) -> bool:
    """Feed `out` the document's events; False (partly fed) if HTMLParser must read it."""
    at = 0
    for_text = out.handle_data
    while True:
        start = html.find("<", at)
        if start < 0:
            if at < len(html):
                for_text(unescape(html[at:]))
            return True
        if start > at:
            for_text(unescape(html[at:start]))
        match = _MARKUP.match(html, start)
        if match is None:
            return False
        at = match.end()
        end, tag, attrs, closed = match.group("end", "tag", "attrs", "closed")
        if end is not None:
            out.handle_endtag(end.lower())
        elif tag is not None:
            tag = tag.lower()
            out.handle_starttag(tag, _attributes(attrs) if attrs else [])
            if closed:
                out.handle_endtag(tag)
            elif tag in _RAW_END:  # script and style: their text is not markup
                closing = _RAW_END[tag].search(html, at)
                if closing is None:
                    return False
                if closing.start() > at:
                    for_text(html[at : closing.start()])
                out.handle_endtag(tag)
                at = closing.end()


def _attributes(text: str) -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []
    for match in _ATTRIBUTE.finditer(text):
        name, *values = match.groups()
        value = next((v for v in values if v is not None), None)  # None: a bare `name`
        found.append((name.lower(), unescape(value) if value else value))
    return found


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
        raw = _SPACES.sub(" ", "".join(self.parts)).split("\n")  # the class holds no \n
        return _BLANKS.sub("\n\n", "\n".join(line.strip() for line in raw)).strip() + "\n"


_SPACES = re.compile(r"[ \t\r\f\v\xa0]+")
_BLANKS = re.compile(r"\n{3,}")
