"""A supervisor who stops managing a team loses its cases on their devices as a practitioner
loses an ended allocation: a purge signal per case, envelopes withdrawn, keys rotated."""

from __future__ import annotations

from typing import Any

import pytest

from backend.accounts.models import ManagementEnd, TeamManager
from backend.accounts.services import team_manager_add, team_manager_remove
from backend.audit.models import AuditAction, AuditEvent
from backend.keys.models import CaseKey
from backend.records.services import document_create
from tests.conftest import actor

from .tablet import Tablet

pytestmark = pytest.mark.django_db


def test_removed_manager_devices_purge_the_teams_cases(
    supervisor: Any, practitioner: Any, admin_user: Any, case_id: str, visit_content: dict[str, Any]
) -> None:
    visit = document_create(
        actor=actor(practitioner), case_id=case_id, doc_type="visit", content=visit_content
    )
    tablet = Tablet(supervisor)
    tablet.pull()
    assert visit.id in tablet.docs
    old_kids = set(tablet.keys)
    versions_before = CaseKey.objects.filter(case_id=case_id).count()

    team = supervisor.managed_teams.get()
    seq = team_manager_remove(team=team, user=supervisor, actor=actor(admin_user))
    assert seq is not None
    assert not TeamManager.objects.filter(team=team, user=supervisor).exists()
    assert ManagementEnd.objects.get(team=team, user=supervisor).ended_seq == seq
    assert CaseKey.objects.filter(case_id=case_id).count() == versions_before + 1
    assert AuditEvent.objects.filter(
        action=AuditAction.DEALLOCATE, object_type="team_manager", actor=admin_user
    ).exists()

    tablet.pull()
    assert case_id in tablet.purged
    assert not any(d.get("case_id") == case_id for d in tablet.docs.values())
    assert not (old_kids & set(tablet.keys)), "withdrawn envelopes must be dropped"
    assert tablet.get(f"/{visit.id}").status_code == 404
    assert team_manager_remove(team=team, user=supervisor, actor=actor(admin_user)) is None

    # Managing the team again delivers its cases again, in full, with no purge after them.
    team_manager_add(team=team, user=supervisor, actor=actor(admin_user))
    tablet.purged.clear()
    tablet.pull()
    assert visit.id in tablet.docs and not tablet.purged


def test_the_admin_page_goes_through_the_services(supervisor: Any, admin_user: Any, case_id: str) -> None:
    from django.test import Client

    team = supervisor.managed_teams.get()
    row = TeamManager.objects.get(team=team, user=supervisor)
    admin_user.is_staff = admin_user.is_superuser = True  # as the demo council's admin
    admin_user.save(update_fields=["is_staff", "is_superuser"])
    client = Client()
    client.force_login(admin_user)
    form = {
        "name": team.name,
        "service": team.service,
        "teammanager_set-TOTAL_FORMS": "1",
        "teammanager_set-INITIAL_FORMS": "1",
        "teammanager_set-MIN_NUM_FORMS": "0",
        "teammanager_set-MAX_NUM_FORMS": "1000",
        "teammanager_set-0-id": str(row.pk),
        "teammanager_set-0-team": str(team.pk),
        "teammanager_set-0-user": str(supervisor.pk),
        "teammanager_set-0-DELETE": "on",
    }
    response = client.post(f"/admin/accounts/team/{team.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[-3000:]
    assert not TeamManager.objects.filter(pk=row.pk).exists()
    assert ManagementEnd.objects.filter(team=team, user=supervisor).exists()
    assert AuditEvent.objects.filter(action=AuditAction.DEALLOCATE, object_type="team_manager").exists()


def test_a_manager_added_on_the_admin_page_starts_at_a_sequence_number(
    supervisor: Any, other_supervisor: Any, admin_user: Any, case_id: str
) -> None:
    from django.test import Client

    from backend.common.sequence import current_seq

    team = supervisor.managed_teams.get()
    existing = TeamManager.objects.get(team=team, user=supervisor)
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save(update_fields=["is_staff", "is_superuser"])
    client = Client()
    client.force_login(admin_user)
    before = current_seq()
    form = {
        "name": team.name,
        "service": team.service,
        "teammanager_set-TOTAL_FORMS": "2",
        "teammanager_set-INITIAL_FORMS": "1",
        "teammanager_set-MIN_NUM_FORMS": "0",
        "teammanager_set-MAX_NUM_FORMS": "1000",
        "teammanager_set-0-id": str(existing.pk),
        "teammanager_set-0-team": str(team.pk),
        "teammanager_set-0-user": str(supervisor.pk),
        "teammanager_set-1-id": "",
        "teammanager_set-1-team": str(team.pk),
        "teammanager_set-1-user": str(other_supervisor.pk),
    }
    response = client.post(f"/admin/accounts/team/{team.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[-3000:]
    added = TeamManager.objects.get(team=team, user=other_supervisor)
    assert added.started_seq > before  # devices will deliver the team's older documents
    assert AuditEvent.objects.filter(
        action=AuditAction.ALLOCATE, object_type="team_manager", actor=admin_user
    ).exists()
    assert TeamManager.objects.filter(team=team, user=supervisor).exists()
