"""Token login, logout, expiry and failed-login throttling through the HTTP API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from backend.accounts.models import AuthToken
from backend.audit.models import AuditAction, AuditEvent
from backend.demo.factories import DEMO_PASSWORD

pytestmark = pytest.mark.django_db


def login(username: str, password: str = DEMO_PASSWORD) -> tuple[int, dict]:
    response = APIClient().post(
        "/api/auth/token/", {"username": username, "password": password}, format="json"
    )
    return response.status_code, response.json()


def test_login_issues_a_token_that_authenticates(practitioner):
    status, body = login("amy.worker")
    assert status == 200
    assert body["token"].startswith("dst_")
    assert body["user"]["role"] == "practitioner"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    me = client.get("/api/me/")
    assert me.status_code == 200
    assert me.json()["username"] == "amy.worker"
    assert AuditEvent.objects.filter(action=AuditAction.LOGIN, actor=practitioner).count() == 1


def test_bearer_keyword_also_works(practitioner):
    _, body = login("amy.worker")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert client.get("/api/me/").status_code == 200


def test_token_is_stored_only_as_a_hash(practitioner):
    _, body = login("amy.worker")
    stored = AuthToken.objects.get(user=practitioner)
    assert body["token"] not in stored.key_hash
    assert stored.key_hash != body["token"]


def test_logout_revokes_the_token(practitioner):
    _, body = login("amy.worker")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    assert client.post("/api/auth/logout/").status_code == 204
    again = client.get("/api/me/")
    assert again.status_code == 401
    assert again.json()["code"] == "authentication_failed"


def test_expired_token_is_refused(practitioner):
    _, body = login("amy.worker")
    AuthToken.objects.filter(user=practitioner).update(expires_at=timezone.now() - timedelta(seconds=1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    response = client.get("/api/me/")
    assert response.status_code == 401
    assert "expired" in response.json()["message"]


def test_no_credentials_is_401_with_code(db):
    response = APIClient().get("/api/cases/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_wrong_password_does_not_say_which_part_was_wrong(practitioner):
    status, body = login("amy.worker", "not-the-password")
    assert status == 401
    assert body == {"code": "authentication_failed", "message": "wrong username or password"}
    status_unknown, body_unknown = login("nobody", "whatever")
    assert (status_unknown, body_unknown) == (status, body)
    assert (
        AuditEvent.objects.filter(action=AuditAction.LOGIN_FAILED, actor_username="amy.worker").count() == 1
    )


def test_failed_logins_are_throttled_even_with_the_right_password_afterwards(practitioner, settings):
    settings.DOORSTEP_LOGIN_FAILURES_ALLOWED = 3
    for _ in range(3):
        assert login("amy.worker", "wrong-password")[0] == 401
    status, body = login("amy.worker")
    assert status == 429
    assert body["code"] == "throttled"
    # Another account is unaffected.
    assert login("amy.worker2")[0] == 401


def test_login_rejects_unknown_fields_and_bad_json(db):
    response = APIClient().post(
        "/api/auth/token/", {"username": "a", "password": "b", "otp": "1"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_field"
    assert "field" not in response.json() and "otp" not in response.json()["message"]  # item 7
    response = APIClient().post("/api/auth/token/", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"


def test_token_lookup_loads_what_the_orm_loads(practitioner):
    """``token_by_hash`` reads token, user and device in one hand-written query; what it
    builds must be what ``select_related`` builds, field by field, for both kinds of token."""
    import base64

    from backend.accounts.authentication import token_by_hash
    from backend.accounts.devices import device_enrol
    from backend.accounts.models import Device, User
    from backend.accounts.services import token_issue
    from sync import generate_device_keypair
    from tests.conftest import actor

    _, public = generate_device_keypair()
    device_enrol(actor=actor(practitioner), name="Tablet", public_key=base64.b64encode(public).decode())
    user_token = token_issue(user=practitioner)[1]
    stored = list(AuthToken.objects.filter(user=practitioner))
    assert {t.device_id is None for t in stored} == {True, False}
    for orm in AuthToken.objects.select_related("user", "device").filter(pk__in=[t.pk for t in stored]):
        loaded = token_by_hash(orm.key_hash)
        assert loaded is not None and not loaded._state.adding
        for model, mine, theirs in (
            (AuthToken, loaded, orm),
            (User, loaded.user, orm.user),
            (Device, loaded.device, orm.device),
        ):
            if theirs is None:
                assert mine is None
                continue
            for field in model._meta.concrete_fields:
                assert getattr(mine, field.attname) == getattr(theirs, field.attname), field.attname
    assert token_by_hash(user_token.key_hash[::-1]) is None
