"""Every letter, rendered with the words production sends.

Contexts come from the production code: ``policy.outcomes.plan_after_decision`` for each
decision the customer is told about (and ``policy.ladder.plan_after_incident`` for the
letters an incident sends), merged as ``workflows.steps.CaseSteps._send_letter`` merges
them, then completed by ``letters.render.letter_context`` as the ``draft_letter`` activity
completes them. Only the first round's contexts (cases started before the second round of
the policy, still running) are written out here, as ``workflows/legacy.py`` and
``workflows/case.py`` build them.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from jinja2 import Environment, PackageLoader, UndefinedError, meta

from letters.render import (
    SUBJECTS,
    LandlordContacts,
    RenderedLetter,
    letter_context,
    render_letter,
)
from policy.categories import Category, Channel
from policy.ladder import LadderFacts, behaviour_summary, plan_after_incident
from policy.outcomes import (
    APPEAL_TO,
    DIRECT_CONTACT_ENDED,
    IMMEDIATE_ACTION,
    PROTOCOL,
    IncidentFact,
    OutcomeFacts,
    PlannedLetter,
    RestrictionFacts,
    customer_is_told,
    plan_after_decision,
    warning_appeal_words,
)
from policy.profiles import PolicyProfile, load_profile
from policy.protocol import DIRECT_CONTACT_ENDED as DIRECT_CONTACT_TERMS
from policy.protocol import ProtocolTerms, arrangements
from policy.tasks import OUTCOMES, TaskKind
from workflows.steps import LETTER_DEFAULTS

NOW = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
HS = load_profile("housing_solutions")
MAGNA = load_profile("magna")
PROFILES = [pytest.param(HS, id="housing_solutions"), pytest.param(MAGNA, id="magna")]

CONTACTS = LandlordContacts(
    appeals_contact="Appeals, Customer Relations, 1 Civic Way, Town TW1 1AA",
    complaints_contact="Complaints Team, complaints@landlord.example, 0300 000 0000",
)
OMBUDSMAN_CONTACT = "PO Box 1484, Unit D, Preston, PR2 0ET"  # the default contact details
# Words a decider writes for the customer, and a note that must never reach a letter.
CUSTOMER_REASON = "You called us 40 times in one week about a repair we had already closed."
INTERNAL = "INTERNAL-NOTE-do-not-send"

TERMS = ProtocolTerms(
    contact_methods=["letter", "email"],
    single_point_of_contact="Sam Jones, Housing Officer",
    contact_times="Tuesdays, 10am to 12pm",
    topics="the kitchen repair only",
)
NEW_TERMS = replace(TERMS, contact_methods=["letter"], topics="repairs only")
INCIDENTS = [
    IncidentFact(datetime(2026, 11, 2, 14, tzinfo=UTC), Channel.PHONE, Category.VERBAL_ABUSE),
    IncidentFact(
        datetime(2026, 11, 9, 10, tzinfo=UTC), Channel.EMAIL, Category.UNREASONABLE_PERSISTENCE
    ),
]
INCIDENT_LINES = [
    "02 November 2026, by telephone: abusive, rude or derogatory language towards our staff",
    "09 November 2026, by email: raising the same matter again and again after our answer",
]
RESTRICTIONS = [PROTOCOL, IMMEDIATE_ACTION, DIRECT_CONTACT_ENDED]
NEXT_REVIEW = NOW + timedelta(days=90)

# Every decision the customer is told about (each sends exactly one letter).
TOLD = sorted(
    (kind, outcome)
    for kind, outcomes in OUTCOMES.items()
    for outcome in outcomes
    if customer_is_told(kind, outcome)
)


def facts(
    kind: TaskKind,
    outcome: str,
    profile: PolicyProfile = HS,
    *,
    restriction: str = PROTOCOL,
    **changes: Any,
) -> OutcomeFacts:
    """A validated decision on a case, as ``DecisionSteps._outcome_facts`` builds it."""
    in_force = kind in (TaskKind.APPEAL_DECISION, TaskKind.PROTOCOL_REVIEW)
    built = OutcomeFacts(
        kind=kind,
        outcome=outcome,
        now=NOW,
        customer_reason=CUSTOMER_REASON,
        behaviour_summary=behaviour_summary(Category.UNREASONABLE_PERSISTENCE),
        incidents=INCIDENTS,
        restriction=RestrictionFacts(
            restriction, TERMS, profile.durations.review_period_default, NEXT_REVIEW
        )
        if in_force
        else None,
        default_review_seconds=profile.durations.review_period_default,
        appeal_within_days=profile.appeal_within_days,
        complaints_route=profile.complaints_route_on_appeal,
        method="letter" if kind in (TaskKind.INITIAL_WARNING, TaskKind.FORMAL_WARNING) else None,
        terms=NEW_TERMS
        if outcome in ("authorised", "approved", "ended", "varied", "vary")
        else None,
        # Internal records a letter never shows.
        reasonable_adjustments=INTERNAL,
        warnings_appealable="initial_warning" in profile.appealable,
    )
    return replace(built, **changes)


def planned(kind: TaskKind, outcome: str, profile: PolicyProfile = HS, **kw: Any) -> PlannedLetter:
    """The one letter this decision sends."""
    (letter,) = plan_after_decision(facts(kind, outcome, profile, **kw)).letters
    return letter


def sent(context: dict[str, str], profile: PolicyProfile = HS) -> dict[str, str]:
    """What the workflow sends (``CaseSteps._send_letter``), plus a stray internal note."""
    return {**LETTER_DEFAULTS, "ombudsman": profile.ombudsman, "reason": INTERNAL, **context}


def render(kind: str, context: dict[str, str], profile: PolicyProfile = HS) -> RenderedLetter:
    """Render as the ``draft_letter`` activity does."""
    return render_letter(kind, full_context(sent(context, profile)))


def full_context(words: dict[str, str]) -> dict[str, Any]:
    return letter_context(
        words,
        customer_ref="CUST-1",
        customer_name="Ms A O'Brien",
        postal_address="1 High Street\nTown",
        landlord_name="Housing Solutions",
        contacts=CONTACTS,
        now=NOW,
    )


def render_decision(
    kind: TaskKind, outcome: str, profile: PolicyProfile = HS, **kw: Any
) -> RenderedLetter:
    letter = planned(kind, outcome, profile, **kw)
    return render(letter.kind, letter.context, profile)


def incident_letters(
    category: Category,
    channel: Channel,
    warned: str | None,
    profile: PolicyProfile = HS,
    **state: Any,
) -> list[tuple[str, dict[str, str]]]:
    """The letters an incident sends, with ``CaseWorkflow._apply_incident``'s context."""
    plan = plan_after_incident(
        LadderFacts(category, channel, warned_by_officer=warned, round_two=True, **state)
    )
    context = {
        "behaviour_summary": behaviour_summary(category),
        "given": warned or "",
        **warning_appeal_words(profile.appealable, NOW, profile.appeal_within_days),
    }
    return [(kind, dict(context)) for kind in plan.letters]


# The first round's contexts (workflows/legacy.py, workflows/case.py), still sent by cases
# started before the second round of the policy.
FIRST_ROUND: list[tuple[str, dict[str, str]]] = [
    ("initial_warning", {"behaviour_summary": "repeated contact"}),
    ("formal_warning", {"behaviour_summary": "repeated contact"}),
    (
        "protocol",
        {
            "behaviour_summary": "repeated contact",
            "terms": "\n".join(arrangements(TERMS)),
            "review_date": "21 May 2027",
            "appeal_route": "If you disagree with this decision you can appeal.",
            "complaints_route": "You can also ask for this decision to be considered under "
            "our complaints policy.",
        },
    ),
    *(
        (
            "appeal_outcome",
            {
                "outcome": outcome,
                "customer_reason": CUSTOMER_REASON,
                "terms": "\n".join(arrangements(TERMS)) if outcome == "varied" else "",
                "review_date": "21 May 2027",
            },
        )
        for outcome in ("upheld", "overturned", "varied")
    ),
    (
        "review_outcome",
        {"outcome": "ended", "customer_reason": "", "terms": "", "next_review_date": ""},
    ),
    (
        "review_outcome",
        {
            "outcome": "continued",
            "customer_reason": CUSTOMER_REASON,
            "terms": "\n".join(arrangements(TERMS)),
            "next_review_date": "21 May 2027",
        },
    ),
    (
        "direct_contact_ended",
        {
            "behaviour_summary": "threats of violence",
            "given": "",
            "terms": "\n".join(arrangements(DIRECT_CONTACT_TERMS)),
        },
    ),
    ("abusive_correspondence", {"behaviour_summary": "abusive language", "given": ""}),
    ("case_closed", {}),
]


def every_production_letter() -> list[Any]:
    """Each kind of letter, with each context production sends it with."""
    cases: list[Any] = []
    for profile in (HS, MAGNA):
        for kind, outcome in TOLD:
            for restriction in (
                RESTRICTIONS
                if kind in (TaskKind.APPEAL_DECISION, TaskKind.PROTOCOL_REVIEW)
                else [PROTOCOL]
            ):
                letter = planned(kind, outcome, profile, restriction=restriction)
                cases.append(
                    pytest.param(
                        letter.kind,
                        letter.context,
                        profile,
                        id=f"{profile.name}-{kind}-{outcome}-{restriction}",
                    )
                )
        for category, channel, warned in [
            (Category.VERBAL_ABUSE, Channel.EMAIL, None),
            (Category.VERBAL_ABUSE, Channel.EMAIL, "phone"),
            (Category.UNREASONABLE_PERSISTENCE, Channel.PHONE, "in_person"),
        ]:
            for sent_kind, context in incident_letters(category, channel, warned, profile):
                cases.append(
                    pytest.param(
                        sent_kind,
                        context,
                        profile,
                        id=f"{profile.name}-incident-{sent_kind}-{warned}",
                    )
                )
        cases.append(pytest.param("case_closed", {}, profile, id=f"{profile.name}-case_closed"))
        for against in (a for a in profile.appealable if a != "restriction"):
            for outcome in ("upheld", "overturned"):
                letter = planned(TaskKind.APPEAL_DECISION, outcome, profile, appeal_against=against)
                cases.append(
                    pytest.param(
                        letter.kind,
                        letter.context,
                        profile,
                        id=f"{profile.name}-appeal-{against}-{outcome}",
                    )
                )
        for old_kind, context in FIRST_ROUND:
            cases.append(
                pytest.param(
                    old_kind,
                    context,
                    profile,
                    id=f"{profile.name}-first_round-{old_kind}-{context.get('outcome', '')}",
                )
            )
    return cases


PRODUCTION = every_production_letter()
HS_LETTERS = [p for p in PRODUCTION if p.values[2] is HS]


def test_every_decision_the_customer_is_told_about_sends_one_letter() -> None:
    assert len(TOLD) == 14
    for kind, outcome in TOLD:
        for profile in (HS, MAGNA):
            plan = plan_after_decision(facts(kind, outcome, profile))
            assert len(plan.letters) == 1, (kind, outcome)
            assert plan.letters[0].kind in SUBJECTS


def test_every_kind_has_a_subject_and_is_sent_by_production() -> None:
    assert {values[0] for values in (p.values for p in PRODUCTION)} == set(SUBJECTS)
    for subject in SUBJECTS.values():
        assert "O'Brien" not in subject and "CUST-1" not in subject


@pytest.mark.parametrize(("kind", "context", "profile"), PRODUCTION)
def test_every_letter_greets_dates_and_gives_complaints_and_the_ombudsman(
    kind: str, context: dict[str, str], profile: PolicyProfile
) -> None:
    text = render(kind, context, profile).text
    assert "Dear Ms A O'Brien," in text
    assert "Our reference: CUST-1" in text
    assert "21 November 2026" in text
    assert SUBJECTS[kind] in text
    assert "reasonable adjustments" in text
    assert CONTACTS.complaints_contact in text
    assert f"contact {profile.ombudsman}" in text
    assert OMBUDSMAN_CONTACT in text
    assert INTERNAL not in text  # neither a stray "reason" nor an internal record


@pytest.mark.parametrize(("kind", "outcome"), TOLD)
@pytest.mark.parametrize("profile", PROFILES)
def test_every_decision_letter_gives_the_reason_written_for_the_customer(
    kind: TaskKind, outcome: str, profile: PolicyProfile
) -> None:
    letter = render_decision(kind, outcome, profile)
    assert CUSTOMER_REASON in letter.text
    assert INTERNAL not in letter.html


def template_variables(name: str, env: Environment) -> set[str]:
    """The variables a template reads, with those of the templates it extends or includes."""
    assert env.loader is not None
    source = env.loader.get_source(env, name)[0]
    tree = env.parse(source)
    found = set(meta.find_undeclared_variables(tree))
    for other in meta.find_referenced_templates(tree):
        assert other is not None
        found |= template_variables(other, env)
    return found


ENV = Environment(loader=PackageLoader("letters", "templates"), autoescape=True)
# The context contract: what the activity adds, what every letter may rely on (the
# workflow's defaults and the profile), what each kind is sent, the first round's
# next_review_date, and the names whose absence makes an unknown outcome fail.
CONTRACT = {
    "subject",
    "customer_ref",
    "customer_name",
    "postal_address",
    "landlord_name",
    "letter_date",
    "appeals_contact",
    "complaints_contact",
    "ombudsman_contact",
    "copy_sent_to",
    "ombudsman",
    "retention_period",
    *LETTER_DEFAULTS,
    "behaviour_summary",
    "terms",
    "review_date",
    "outcome",
    "next_review_date",
    "unknown_appeal_outcome",
    "unknown_review_outcome",
    "unknown_no_restriction_outcome",
    "unknown_decision_appeal_outcome",
    "appealed",
}


def test_no_template_reads_an_internal_reason_or_a_key_outside_the_contract() -> None:
    names = ENV.list_templates()
    assert {f"{kind}.html.j2" for kind in SUBJECTS} <= set(names)
    for name in names:
        used = template_variables(name, ENV)
        assert "reason" not in used, name
        assert used <= CONTRACT, (name, used - CONTRACT)


@pytest.mark.parametrize(
    ("kind", "outcome"),
    [
        (TaskKind.PROTOCOL_AUTHORISATION, "authorised"),
        (TaskKind.IMMEDIATE_ACTION, "approved"),
        (TaskKind.END_DIRECT_CONTACT, "ended"),
    ],
)
@pytest.mark.parametrize("profile", PROFILES)
def test_restriction_letters_say_what_why_terms_how_long_and_how_to_appeal(
    kind: TaskKind, outcome: str, profile: PolicyProfile
) -> None:
    letter = planned(kind, outcome, profile)
    text = render(letter.kind, letter.context, profile).text
    assert behaviour_summary(Category.UNREASONABLE_PERSISTENCE) in text
    for line in INCIDENT_LINES:
        assert f"- {line}" in text
    assert CUSTOMER_REASON in text
    for line in arrangements(NEW_TERMS):
        assert f"- {line}\n" in text
    assert "-" not in text.splitlines()  # blank lines in terms are not listed
    review = NOW + timedelta(seconds=profile.durations.review_period_default)
    assert f"review them on {review:%d %B %Y}" in text
    assert f"considered by {APPEAL_TO}" in text
    assert f"Where to send your appeal: {CONTACTS.appeals_contact}" in text
    appeal_by = NOW + timedelta(days=profile.appeal_within_days)
    assert f"Please send your appeal by: {appeal_by:%d %B %Y}" in text
    assert f"How to complain: {CONTACTS.complaints_contact}" in text
    assert OMBUDSMAN_CONTACT in text


@pytest.mark.parametrize(
    ("kind", "outcome"),
    [
        (TaskKind.PROTOCOL_AUTHORISATION, "authorised"),
        (TaskKind.END_DIRECT_CONTACT, "ended"),
        (TaskKind.PROTOCOL_REVIEW, "continue"),
    ],
)
def test_only_housing_solutions_offers_its_complaints_policy_instead_of_an_appeal(
    kind: TaskKind, outcome: str
) -> None:
    route = "You can also ask for this decision to be considered under our complaints policy."
    assert route in render_decision(kind, outcome, HS).text  # HS 6.5.5
    assert route not in render_decision(kind, outcome, MAGNA).text


def test_a_protocol_letter_leaves_a_way_to_contact_us_open() -> None:
    text = render_decision(TaskKind.PROTOCOL_AUTHORISATION, "authorised").text
    assert "At least one way to contact us will always stay open" in text
    assert "If the behaviour continues" in text


def test_immediate_action_says_a_director_signed_it_off_without_the_usual_warnings() -> None:
    immediate = render_decision(TaskKind.IMMEDIATE_ACTION, "approved").text
    authorised = render_decision(TaskKind.PROTOCOL_AUTHORISATION, "authorised").text
    phrase = "a Director has decided that immediate action is needed"
    assert phrase in immediate and "without the usual warnings" in immediate
    assert phrase not in authorised and "without the usual warnings" not in authorised


def test_ending_direct_contact_is_a_directors_reviewed_appealable_decision() -> None:
    text = render_decision(TaskKind.END_DIRECT_CONTACT, "ended").text
    assert "A Director has considered what happened and has decided to end all direct contact" in (
        text
    )
    assert "How long this will last" in text
    assert "you can appeal" in text
    assert "police" in text
    assert "its own legal process" in text
    assert "cannot be appealed under this policy" in text


def test_first_round_direct_contact_ended_keeps_its_wording_without_a_review() -> None:
    context = dict(FIRST_ROUND)["direct_contact_ended"]
    text = render("direct_contact_ended", context).text
    assert "we are ending all direct contact" in text
    assert "A Director has" not in text
    assert "review" not in text and "Where to send your appeal" not in text
    assert "cannot be appealed under this policy" in text


@pytest.mark.parametrize("restriction", RESTRICTIONS)
@pytest.mark.parametrize(
    ("outcome", "phrase", "review", "terms"),
    [
        ("upheld", "will stay in place as it was", True, False),
        ("overturned", "your appeal is successful. We have removed", False, False),
        ("varied", "we have changed the arrangements", True, True),
    ],
)
def test_appeal_outcome_follows_the_outcome_and_the_restriction(
    restriction: str, outcome: str, phrase: str, review: bool, terms: bool
) -> None:
    text = render_decision(TaskKind.APPEAL_DECISION, outcome, restriction=restriction).text
    assert phrase in text
    assert f"Why: {CUSTOMER_REASON}" in text
    assert f"considered by {APPEAL_TO}" in text
    what = (
        "the restriction on direct contact with our staff"
        if restriction == DIRECT_CONTACT_ENDED
        else "the communication protocol"
    )
    assert what in text
    assert (f"review them on {NEXT_REVIEW:%d %B %Y}" in text) is review
    assert ("you can contact us in the usual ways again" in text) is (outcome == "overturned")
    for line in arrangements(NEW_TERMS):
        assert (f"- {line}" in text) is terms
    assert "Where to send your appeal" not in text  # the appeal is decided


@pytest.mark.parametrize("restriction", RESTRICTIONS)
@pytest.mark.parametrize(
    ("outcome", "phrase"),
    [
        ("end", "we have decided to end"),
        ("continue", "will continue, with the same arrangements as before"),
        ("vary", "will continue, with changed arrangements"),
    ],
)
def test_review_outcome_follows_the_outcome_and_the_restriction(
    restriction: str, outcome: str, phrase: str
) -> None:
    text = render_decision(TaskKind.PROTOCOL_REVIEW, outcome, restriction=restriction).text
    assert phrase in text
    assert f"Why: {CUSTOMER_REASON}" in text
    period = timedelta(seconds=HS.durations.review_period_default)
    next_review = f"again on {NOW + period:%d %B %Y}"
    if outcome == "end":
        assert "you can contact us in the usual ways again" in text
        assert next_review not in text and "Where to send your appeal" not in text
    else:
        assert next_review in text
        assert f"considered by {APPEAL_TO}" in text
        assert f"Where to send your appeal: {CONTACTS.appeals_contact}" in text
        appeal_by = NOW + timedelta(days=HS.appeal_within_days)
        assert f"Please send your appeal by: {appeal_by:%d %B %Y}" in text
        shown = NEW_TERMS if outcome == "vary" else TERMS
        for line in arrangements(shown):
            assert f"- {line}" in text
    if restriction == DIRECT_CONTACT_ENDED:
        assert "When we ended direct contact between you and our staff" in text
    else:
        assert "When we put your communication protocol in place" in text


@pytest.mark.parametrize(
    ("kind", "outcome", "opening"),
    [
        (TaskKind.BEHAVIOUR_ASSESSMENT, "not_unacceptable", "We have looked carefully at your"),
        (TaskKind.PROTOCOL_AUTHORISATION, "declined", "put a communication protocol in place"),
        (TaskKind.IMMEDIATE_ACTION, "refused", "restrict how you contact us straight away"),
    ],
)
def test_no_restriction_says_why_and_that_contact_goes_on_as_usual(
    kind: TaskKind, outcome: str, opening: str
) -> None:
    letter = planned(kind, outcome)
    assert letter.kind == "no_restriction"
    text = render(letter.kind, letter.context).text
    assert opening in text
    assert "we are not restricting how you" in text or "do not need to restrict" in text
    assert f"Why: {CUSTOMER_REASON}" in text
    assert "you can keep contacting us in the usual ways" in text
    assert "What we still expect" in text
    assert "organisations that can help" in text  # support


@pytest.mark.parametrize("kind", ["appeal_outcome", "review_outcome", "no_restriction"])
def test_an_unknown_outcome_does_not_produce_a_letter(kind: str) -> None:
    letter = next(p.values[1] for p in PRODUCTION if p.values[0] == kind)
    with pytest.raises(UndefinedError):
        render(kind, {**letter, "outcome": "maybe"})


@pytest.mark.parametrize(("method", "spoken"), [("phone", "by phone"), ("in_person", "in person")])
def test_an_initial_warning_given_by_phone_or_in_person_is_confirmed_in_writing(
    method: str, spoken: str
) -> None:
    decided = render_decision(TaskKind.INITIAL_WARNING, "issued", method=method).text
    ((kind, context),) = incident_letters(Category.UNREASONABLE_PERSISTENCE, Channel.PHONE, method)
    reported = render(kind, context).text
    for text in (decided, reported):
        assert f"when we spoke to you {spoken}" in text
        assert "counts as an initial warning" in text
        assert "confirms that warning in writing" in text  # HS 6.5.1


def test_an_initial_warning_by_letter_is_the_warning_and_shows_incidents_and_reasons() -> None:
    text = render_decision(TaskKind.INITIAL_WARNING, "issued", method="letter").text
    assert "this letter is an initial warning" in text
    assert "when we spoke to you" not in text
    for line in INCIDENT_LINES:
        assert f"- {line}" in text
    assert f"Why we are warning you: {CUSTOMER_REASON}" in text


def test_a_warning_without_incidents_or_reasons_leaves_those_paragraphs_out() -> None:
    ((kind, context),) = incident_letters(Category.UNREASONABLE_PERSISTENCE, Channel.PHONE, "phone")
    text = render(kind, context).text
    assert "What happened" not in text and "Why we are warning you" not in text


def test_formal_warning_says_we_will_reassess_how_communications_are_managed() -> None:
    text = render_decision(TaskKind.FORMAL_WARNING, "issued").text
    assert "formal written warning" in text
    assert f"What was unacceptable: {behaviour_summary(Category.UNREASONABLE_PERSISTENCE)}" in text
    for line in INCIDENT_LINES:
        assert f"- {line}" in text
    assert f"Why we are warning you: {CUSTOMER_REASON}" in text
    assert "if the behaviour continues, we will reassess how we manage" in text  # HS 6.5.2


@pytest.mark.parametrize("warned", [None, "phone"])
def test_abusive_correspondence_follows_hs_6_3_3_and_judges_no_allegation(
    warned: str | None,
) -> None:
    ((kind, context),) = incident_letters(Category.VERBAL_ABUSE, Channel.EMAIL, warned)
    assert kind == "abusive_correspondence"
    text = render(kind, context).text
    assert f"What was unacceptable: {behaviour_summary(Category.VERBAL_ABUSE)}" in text
    assert "offensive, unnecessary and unhelpful" in text
    assert "please stop using this kind of language" in text
    assert "we will not respond to it" in text
    assert "through a third party" in text
    assert "evidence" not in text
    # HS 6.5.1: one letter per incident, so the notice confirms a spoken warning.
    assert ("confirms it in writing" in text) is (warned is not None)


def test_case_closed_explains_normal_contact_and_the_12_month_rule() -> None:
    text = render("case_closed", {}).text
    assert "we have closed our case" in text
    assert "Thank you" in text
    assert "contact us in the usual ways" in text
    assert "we keep a record of this case" in text
    assert "closed for 12 months" in text


def test_postal_address_may_be_left_out() -> None:
    words = sent({})
    context = {**full_context(words), "postal_address": None}
    letter = render_letter("case_closed", context)
    assert "<address>" not in letter.html
    assert "High Street" not in letter.text


# Values that choose wording rather than being shown.
CONTROLS = {"outcome", "restriction", "given", "immediate", "complaints_route", "reason"}
ONE_PER_KIND = {p.values[0]: p for p in reversed(HS_LETTERS)}
# A warning sets out an appeal under Magna ("appeal any decisions we make"), not under HS.
SHOWN_UNDER_MAGNA_ONLY = {
    (kind, name)
    for kind in ("initial_warning", "formal_warning", "abusive_correspondence")
    for name in ("appeal_by", "appeals_contact", "complaints_route")
}


@pytest.mark.parametrize(
    ("kind", "context", "variable"),
    [
        pytest.param(kind, p.values[1], variable, id=f"{kind}-{variable}")
        for kind, p in sorted(ONE_PER_KIND.items())
        for variable in sorted(full_context(sent(p.values[1])))
        if variable not in CONTROLS
        and (kind, variable) not in SHOWN_UNDER_MAGNA_ONLY
        and variable in template_variables(f"{kind}.html.j2", ENV)
        and (full_context(sent(p.values[1]))[variable] or variable == "postal_address")
    ],
)
def test_script_in_any_shown_variable_is_escaped(
    kind: str, context: dict[str, str], variable: str
) -> None:
    evil = '<script>alert("x")</script>'
    letter = render_letter(kind, {**full_context(sent(context)), variable: evil})
    assert "<script>" not in letter.html
    assert "&lt;script&gt;" in letter.html  # the value was shown, escaped
    assert evil in letter.text  # and reads as plain text


# A first-round case's direct_contact_ended letter has no review date; a first-round
# review's next review comes as next_review_date.
OPTIONAL = {
    ("direct_contact_ended", "review_date"): None,
    # Warnings offer an appeal under Magna only (HS letters read these only under Magna).
    **{(kind, name): None for kind, name in SHOWN_UNDER_MAGNA_ONLY},
}
INSTEAD = {("review_outcome", "review_date"): "next_review_date"}


@pytest.mark.parametrize(
    ("kind", "context", "missing"),
    [
        pytest.param(kind, p.values[1], missing, id=f"{p.id}-{missing}")
        for p in HS_LETTERS
        for kind in [p.values[0]]
        for missing in sorted(full_context(sent(p.values[1])))
        if missing in template_variables(f"{kind}.html.j2", ENV) and (kind, missing) not in OPTIONAL
    ],
)
def test_leaving_out_any_variable_a_letter_reads_fails_loudly(
    kind: str, context: dict[str, str], missing: str
) -> None:
    full = full_context(sent(context))
    del full[missing]
    named = INSTEAD.get((kind, missing), missing)
    with pytest.raises(UndefinedError, match=f"'{named}' is undefined"):
        render_letter(kind, full)


def test_a_warning_sets_out_the_appeal_under_magna_and_not_under_hs() -> None:
    for profile, appeal in ((MAGNA, True), (HS, False)):
        letter = planned(TaskKind.FORMAL_WARNING, "issued", profile)
        text = render(letter.kind, letter.context, profile).text
        assert ("Where to send your appeal" in text) is appeal, profile.name
        assert (CONTACTS.appeals_contact in text) is appeal, profile.name
    for _kind, context in incident_letters(Category.VERBAL_ABUSE, Channel.EMAIL, None, HS):
        assert context["appeal_to"] == ""  # an incident's letter under HS: no appeal
    for _kind, context in incident_letters(Category.VERBAL_ABUSE, Channel.EMAIL, None, MAGNA):
        assert context["appeal_to"] and context["appeal_by"]
