"""A canary written through the API is absent from the database at rest, and reads back."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.db import connection

CANARY = "CANARY-7f3a-Zoë-visited-the-blue-house"


def _at_rest_bytes() -> bytes:
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        path = Path(settings_dict["NAME"])
        data = path.read_bytes()
        wal = path.with_name(path.name + "-wal")
        return data + (wal.read_bytes() if wal.exists() else b"")
    pg_dump = shutil.which("pg_dump")
    assert pg_dump, "pg_dump is needed to inspect PostgreSQL at rest"
    env = {**os.environ, "PGPASSWORD": settings_dict.get("PASSWORD") or ""}
    result = subprocess.run(
        [
            pg_dump,
            "--data-only",
            "-h",
            settings_dict.get("HOST") or "127.0.0.1",
            "-p",
            str(settings_dict.get("PORT") or 5432),
            "-U",
            settings_dict.get("USER") or "postgres",
            settings_dict["NAME"],
        ],
        capture_output=True,
        env=env,
        check=True,
    )
    return result.stdout


@pytest.mark.django_db(transaction=True)
def test_canary_is_absent_at_rest_and_reads_back(api, practitioner, case_id, visit_content, caplog):
    client = api(practitioner)
    content = {**visit_content, "observations": f"Saw the family. {CANARY}", "child_voice": CANARY}
    created = client.post(f"/api/cases/{case_id}/visits/", {"content": content}, format="json")
    assert created.status_code == 201, created.json()
    visit_id = created.json()["id"]
    read = client.get(f"/api/visits/{visit_id}/").json()
    assert CANARY in read["content"]["observations"]
    at_rest = _at_rest_bytes()
    # Positive control: the document and its clear workflow metadata are there...
    assert visit_id.encode() in at_rest
    assert b"statutory" in at_rest
    # ...but not the case data, in any encoding it could plausibly take.
    for form in (CANARY.encode(), CANARY.encode("unicode_escape"), b"Zo\\u00eb"):
        assert form not in at_rest
    assert CANARY not in caplog.text
