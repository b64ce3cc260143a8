"""Issuing and withdrawing per-device key envelopes (crypto-shredding on loss of access)."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from backend.audit.models import AuditAction
from backend.audit.services import Actor, audit_record_many
from backend.common.sequence import next_seq
from sync import wrap_key_for_device

from .models import CaseKey, KeyEnvelope
from .services import case_key_by_kid


def device_ref(device: Any) -> str:
    return f"d:{device.pk}"


def envelope_doc_id(kid: str) -> str:
    return f"keyenv:{kid}"


def _hash(device_pk: int, kid: str, generation: int) -> str:
    return hashlib.md5(f"keyenv\n{device_pk}\n{kid}\n{generation}".encode()).hexdigest()


def envelope_rev(device_pk: int, kid: str, generation: int) -> str:
    return f"{generation}-{_hash(device_pk, kid, generation)}"


def envelope_revisions(device_pk: int, kid: str, generation: int) -> dict[str, Any]:
    return {"start": generation, "ids": [_hash(device_pk, kid, g) for g in range(generation, 0, -1)]}


def issue_envelopes(*, device: Any, access: dict[str, int], actor: Actor, now: datetime | None = None) -> int:
    """Make sure ``device`` holds a live envelope for every key version of every case in
    ``access``; returns how many were issued. Each issue is audited."""
    if not access:
        return 0
    # Every _changes request asks; almost always the answer is "nothing to issue", found with
    # one query that returns no rows (no key blobs or envelopes loaded).
    held = KeyEnvelope.objects.filter(device=device, withdrawn=False).values("case_key_id")
    if not CaseKey.objects.filter(case_id__in=list(access)).exclude(pk__in=held).exists():
        return 0
    keys = list(CaseKey.objects.filter(case_id__in=list(access)).only("id", "case_id", "version", "wrapped"))
    existing = {e.case_key_id: e for e in KeyEnvelope.objects.filter(device=device, case_key__in=keys)}
    todo = [k for k in keys if k.pk not in existing or existing[k.pk].withdrawn]
    if not todo:
        return 0
    now = now or timezone.now()
    public = base64.b64decode(device.public_key)
    issued = []
    with transaction.atomic():
        for case_key in todo:
            kid = case_key.kid
            wrapped = wrap_key_for_device(
                case_key_by_kid(kid=kid, wrapped=case_key.wrapped),
                device_public_key=public,
                device_id=device_ref(device),
                case_id=case_key.case_id,
                kid=kid,
            )
            seq = next_seq()
            envelope = existing.get(case_key.pk)
            if envelope is None:
                KeyEnvelope.objects.create(
                    device=device,
                    case_key=case_key,
                    case_id=case_key.case_id,
                    generation=1,
                    seq=seq,
                    envelope=wrapped,
                    updated_at=now,
                )
            else:
                envelope.generation += 1
                envelope.seq = seq
                envelope.withdrawn = False
                envelope.envelope = wrapped
                envelope.updated_at = now
                envelope.save()
            issued.append(
                ("key_envelope", envelope_doc_id(kid), case_key.case_id, {"device": device_ref(device)})
            )
        audit_record_many(actor=actor, action=AuditAction.KEY_ISSUE, items=issued)
    return len(issued)


def withdraw_envelopes(*, user: Any, case_id: str, actor: Actor | None, now: datetime | None = None) -> int:
    """Withdraw every envelope of ``case_id`` held by ``user``'s devices (crypto-shredding:
    the devices see the envelope documents deleted and must drop the keys)."""
    now = now or timezone.now()
    envelopes = list(
        KeyEnvelope.objects.select_for_update()
        .filter(device__user=user, case_id=case_id, withdrawn=False)
        .select_related("case_key")
    )
    items = []
    for envelope in envelopes:
        envelope.generation += 1
        envelope.seq = next_seq()
        envelope.withdrawn = True
        envelope.envelope = {}
        envelope.updated_at = now
        envelope.save()
        items.append(
            (
                "key_envelope",
                envelope_doc_id(envelope.case_key.kid),
                case_id,
                {"device": device_ref(envelope.device)},
            )
        )
    if items and actor is not None:
        audit_record_many(actor=actor, action=AuditAction.KEY_REVOKE, items=items)
    return len(items)


def envelope_wire(envelope: KeyEnvelope, *, revs: bool = False) -> dict[str, Any]:
    kid = envelope.case_key.kid
    doc: dict[str, Any] = {
        "_id": envelope_doc_id(kid),
        "_rev": envelope_rev(envelope.device_id, kid, envelope.generation),
    }
    if envelope.withdrawn:
        doc["_deleted"] = True
    doc.update(
        {
            "type": "key_envelope",
            "case_id": envelope.case_id,
            "kid": kid,
            "device_id": f"d:{envelope.device_id}",
        }
    )
    if not envelope.withdrawn:
        doc["envelope"] = envelope.envelope
    if revs:
        doc["_revisions"] = envelope_revisions(envelope.device_id, kid, envelope.generation)
    return doc
