"""Rotating the server keyring re-wraps case keys, leaves documents alone, and old ones still read."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from backend.keys.keyring import reset_keyring
from backend.keys.models import CaseKey
from backend.keys.services import forget_cached_keys
from backend.records.models import Revision
from sync import Keyring

pytestmark = pytest.mark.django_db


@pytest.fixture
def key_file(tmp_path, settings):
    path = tmp_path / "keyring.json"
    path.write_text(Keyring.generate(kek_id="old").to_json())
    settings.DOORSTEP_KEYRING = ""
    settings.DOORSTEP_KEY_FILE = path
    reset_keyring()
    forget_cached_keys()
    yield path
    reset_keyring()
    forget_cached_keys()


def test_rotation_rewraps_keys_not_documents(key_file, api, practitioner, case_id, visit_content):
    created = (
        api(practitioner)
        .post(f"/api/cases/{case_id}/visits/", {"content": visit_content}, format="json")
        .json()
    )
    bodies_before = list(Revision.objects.order_by("pk").values_list("body", flat=True))
    wrapped_before = dict(CaseKey.objects.values_list("pk", "wrapped"))
    assert all(w.split(".")[1] == "old" for w in wrapped_before.values())

    out = StringIO()
    call_command("rotate_keyring", "--new-kek-id", "new", stdout=out)
    assert "re-wrapped" in out.getvalue()
    wrapped_after = dict(CaseKey.objects.values_list("pk", "wrapped"))
    assert wrapped_after.keys() == wrapped_before.keys()
    assert all(w.split(".")[1] == "new" for w in wrapped_after.values())
    assert list(Revision.objects.order_by("pk").values_list("body", flat=True)) == bodies_before

    with pytest.raises(CommandError):
        call_command("rotate_keyring", "--retire", "new", stdout=StringIO())
    call_command("rotate_keyring", "--retire", "old", stdout=StringIO())
    assert Keyring.from_json(key_file.read_text()).ids == ("new",)

    reset_keyring()
    forget_cached_keys()
    read = api(practitioner).get(f"/api/visits/{created['id']}/")
    assert read.status_code == 200
    assert read.json()["content"]["observations"] == visit_content["observations"]


def test_retiring_a_key_still_in_use_is_refused(key_file, case_id):
    call_command("rotate_keyring", "--new-kek-id", "next", stdout=StringIO())
    CaseKey.objects.update(wrapped="v1.old.x.y")  # pretend one was missed
    with pytest.raises(CommandError, match="still wrapped"):
        call_command("rotate_keyring", "--retire", "old", stdout=StringIO())
