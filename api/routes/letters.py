"""Letters as sent, for staff."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from api.auth import StaffOnly
from api.decision_schemas import LetterDetailOut
from api.deps import RecordsDep

router = APIRouter(prefix="/v1", tags=["letters"])


@router.get("/letters/{letter_id:path}")
async def get_letter(letter_id: str, _: StaffOnly, records: RecordsDep) -> LetterDetailOut:
    """The rendered letter: subject, text and HTML bodies, delivery and status."""
    letter = await records.get_letter(letter_id)
    if letter is None:
        raise HTTPException(404, "no such letter")
    return LetterDetailOut.model_validate(letter, from_attributes=True)
