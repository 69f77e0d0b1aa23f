"""Render letters from Jinja2 templates; autoescape is always on."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

_env = Environment(
    loader=PackageLoader("letters", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

SUBJECTS: dict[str, str] = {
    "initial_warning": "Your contact with us: an initial warning about unacceptable behaviour",
    "formal_warning": "Your contact with us: a formal warning about unacceptable behaviour",
    "abusive_correspondence": "Your correspondence with us: offensive language",
    "protocol": "How we will communicate with you: a communication protocol",
    "appeal_outcome": "The outcome of your appeal about our communication protocol",
    "review_outcome": "The review of our communication protocol",
    "case_closed": "Your contact with us: this matter is now closed",
    "direct_contact_ended": "We are ending direct contact with you",
}


@dataclass(frozen=True)
class RenderedLetter:
    """A letter ready to send: subject, HTML body and a plain-text alternative."""

    kind: str
    subject: str
    html: str
    text: str


class UnknownLetterError(ValueError):
    """No template exists for this kind of letter."""


def render_letter(kind: str, context: dict[str, Any]) -> RenderedLetter:
    """Render the letter ``kind`` with ``context`` (values are escaped)."""
    if kind not in SUBJECTS:
        raise UnknownLetterError(f"no letter template for {kind!r}")
    html = _env.get_template(f"{kind}.html.j2").render(subject=SUBJECTS[kind], **context)
    return RenderedLetter(kind=kind, subject=SUBJECTS[kind], html=html, text=html_to_text(html))


class _TextExtractor(HTMLParser):
    _BLOCKS = frozenset({"p", "div", "br", "li", "h1", "h2", "h3", "tr", "address", "section"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "title", "head"):
            self._skip += 1
        if tag == "li":
            self.parts.append("\n- ")
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "title", "head"):
            self._skip -= 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """A readable plain-text version of a letter's HTML."""
    parser = _TextExtractor()
    parser.feed(html)
    lines = [line.strip() for line in "".join(parser.parts).splitlines()]
    text: list[str] = []
    for line in lines:
        if line or (text and text[-1]):
            text.append(line)
    return "\n".join(text).strip() + "\n"
