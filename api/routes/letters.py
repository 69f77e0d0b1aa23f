"""Letters as sent, for staff."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from api.access import check_case_file
from api.auth import StaffOnly
from api.decision_schemas import LetterDetailOut
from api.deps import RecordsDep

router = APIRouter(prefix="/v1", tags=["letters"])


@router.get("/letters/{letter_id:path}")
async def get_letter(
    letter_id: str, principal: StaffOnly, records: RecordsDep, request: Request
) -> LetterDetailOut:
    """The rendered letter: subject, text and HTML bodies, delivery and status (need to
    know: for staff involved in its case, or who broke glass on it)."""
    letter = await records.get_letter(letter_id)
    if letter is None:
        raise HTTPException(404, "no such letter")
    case = await records.get_case(letter.case_key)
    if case is None:  # a letter always belongs to a case; refuse rather than guess
        raise HTTPException(404, "no such letter")
    await check_case_file(request, records, principal, case)
    return LetterDetailOut.model_validate(letter, from_attributes=True)
