"""A deadlock or an exhausted lock wait is a clear, retryable 503 — never an HTML 500."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import OperationalError

from backend.common.errors import exception_handler, is_transient_db_error

pytestmark = pytest.mark.django_db


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"pg error {sqlstate}")
        self.sqlstate = sqlstate


def _operational(cause: Exception | None, text: str = "boom") -> OperationalError:
    exc = OperationalError(text)
    exc.__cause__ = cause
    return exc


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (_operational(_PgError("40P01")), True),  # deadlock_detected
        (_operational(_PgError("40001")), True),  # serialization_failure
        (_operational(_PgError("55P03")), True),  # lock_not_available
        (_operational(None, "database is locked"), True),  # SQLite busy timeout
        (_operational(_PgError("08006")), False),  # connection failure: not "try again now"
        (_operational(None, "no such table: x"), False),
        (ValueError("database is locked"), False),
    ],
)
def test_which_database_errors_are_transient(exc: Exception, transient: bool) -> None:
    assert is_transient_db_error(exc) is transient


def test_rest_answers_a_deadlock_with_a_retryable_503() -> None:
    response = exception_handler(_operational(_PgError("40P01")), {})
    assert response is not None
    assert response.status_code == 503
    assert response.data["code"] == "busy"
    assert "nothing was saved" in response.data["message"]
    assert response["Retry-After"] == "1"
    assert exception_handler(_operational(_PgError("08006")), {}) is None  # left to Django: a real fault


def test_sync_answers_a_deadlock_with_a_couchdb_503(practitioner: Any, monkeypatch: Any) -> None:
    from tests.backend.syncapi.tablet import Tablet

    tablet = Tablet(practitioner)
    import backend.syncapi.views as views

    def deadlocked(*args: Any, **kwargs: Any) -> Any:
        raise _operational(_PgError("40P01"))

    monkeypatch.setattr(views, "replicated_writes", deadlocked)
    response = tablet.post("/_bulk_docs", {"docs": [], "new_edits": False})
    assert response.status_code == 503
    assert response.json() == {
        "error": "unavailable",
        "reason": "the server was busy and nothing was saved; retry",
    }
