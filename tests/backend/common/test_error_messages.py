"""Issue 10 item 7 (REST): refusals name rules and declared fields, never what was submitted.

A query value or an unknown field name may be case data a careless client put in the wrong
place; the error body (which clients log) must not repeat it.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

pytestmark = pytest.mark.django_db

#: Plaintext a client might put where a filter value or a field name belongs.
CASE_DATA = "Amy Okafor 12 Mill Lane"


def _assert_not_echoed(response, code: str) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == code, body
    text = response.content.decode()
    assert CASE_DATA not in text and quote(CASE_DATA) not in text, text
    assert "Amy" not in text, text


def test_unknown_top_level_field_name_is_not_echoed(api, practitioner, case_id):
    response = api(practitioner).post(
        f"/api/cases/{case_id}/notes/",
        {"content": {"category": "general", "text": "t"}, CASE_DATA: "x"},
        format="json",
    )
    _assert_not_echoed(response, "unknown_field")
    # It still says which fields the endpoint does accept.
    assert "content" in response.json()["message"]


def test_unknown_query_parameter_name_is_not_echoed(api, supervisor):
    response = api(supervisor).get(f"/api/cases/?{quote(CASE_DATA)}=1")
    _assert_not_echoed(response, "unknown_field")


def test_invalid_choice_in_query_filter_is_not_echoed(api, supervisor):
    response = api(supervisor).get(f"/api/cases/?status={quote(CASE_DATA)}")
    _assert_not_echoed(response, "invalid_field")
    assert response.json()["field"] == "status"


def test_invalid_choice_in_audit_filter_is_not_echoed(api, admin_user):
    response = api(admin_user).get(f"/api/audit/?action={quote(CASE_DATA)}")
    _assert_not_echoed(response, "invalid_field")
    assert response.json()["field"] == "action"


def test_invalid_choice_in_body_is_not_echoed(api, supervisor, practitioner, case_id):
    response = api(supervisor).post(
        f"/api/cases/{case_id}/allocations/", {"user": practitioner.pk, "role": CASE_DATA}, format="json"
    )
    _assert_not_echoed(response, "invalid_field")
    assert response.json()["field"] == "role"
