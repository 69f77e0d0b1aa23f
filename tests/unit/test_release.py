"""Who may release a claim on a task (policy.tasks.release_allowed). Pure; no fakes."""

from __future__ import annotations

from policy.tasks import release_allowed


def test_the_claimant_releases_their_own_claim_whatever_the_spelling() -> None:
    assert release_allowed(claimed_by="Mo", user="mo", acting_role="manager", task_role="manager")


def test_a_colleague_in_the_tasks_own_role_may_not() -> None:
    assert not release_allowed(
        claimed_by="mo", user="al", acting_role="manager", task_role="manager"
    )


def test_a_role_the_task_escalated_to_may() -> None:
    assert release_allowed(
        claimed_by="mo", user="hos", acting_role="head_of_service", task_role="manager"
    )


def test_nothing_claimed_nothing_to_release() -> None:
    assert not release_allowed(
        claimed_by=None, user="mo", acting_role="manager", task_role="manager"
    )
