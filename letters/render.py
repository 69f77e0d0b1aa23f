"""Render letters from Jinja2 templates; autoescape is always on."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
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
    "appeal_outcome": "The outcome of your appeal about how we manage contact with you",
    "review_outcome": "The review of how we manage contact with you",
    "case_closed": "Your contact with us: this matter is now closed",
    "direct_contact_ended": "We are ending direct contact with you",
    "decision_appeal_outcome": "The outcome of your appeal",
    "no_restriction": "Your contact with us: we are not restricting contact",
}


@dataclass(frozen=True)
class LandlordContacts:
    """Where a customer appeals, complains or goes to the Ombudsman: printed in every letter.

    Deployment settings (``UCB_APPEALS_CONTACT``, ``UCB_COMPLAINTS_CONTACT``,
    ``UCB_OMBUDSMAN_CONTACT``); the defaults are the settings' development defaults.
    """

    appeals_contact: str = (
        "Customer Relations, by replying to this letter (by email or by post), saying that "
        "it is an appeal"
    )
    complaints_contact: str = (
        "Customer Relations, by replying to this letter (by email or by post), or by telling "
        "any member of our staff that you want to make a complaint"
    )
    ombudsman_contact: str = (
        "Housing Ombudsman Service, PO Box 1484, Unit D, Preston, PR2 0ET; "
        "telephone 0300 111 3000; www.housing-ombudsman.org.uk"
    )


# The development defaults, for activities built without the deployment's settings.
DEFAULT_CONTACTS = LandlordContacts()
# How long a case's details are kept after it is set aside, as the closed-case letter
# words it (``UCB_RETENTION_DAYS`` by policy.retention.describe_period; its default).
DEFAULT_RETENTION_PERIOD = "5 years"


def letter_context(
    sent: Mapping[str, str],
    *,
    customer_ref: str,
    customer_name: str,
    postal_address: str | None,
    landlord_name: str,
    contacts: LandlordContacts,
    now: datetime,
    copy_sent_to: str | None = None,
    retention_period: str = DEFAULT_RETENTION_PERIOD,
) -> dict[str, Any]:
    """Everything a letter template sees: the addressee, the landlord and its contacts,
    the date, then the words the workflow ``sent`` (policy.outcomes' plan merged over
    workflows.steps.LETTER_DEFAULTS). Internal notes are never part of either."""
    return {
        "customer_ref": customer_ref,
        "customer_name": customer_name,
        "postal_address": postal_address,
        "landlord_name": landlord_name,
        **asdict(contacts),
        "letter_date": now.strftime("%d %B %Y"),
        # The customer's copy of a letter sent to their advocate names the advocate.
        "copy_sent_to": copy_sent_to or "",
        "retention_period": retention_period,
        **sent,
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
