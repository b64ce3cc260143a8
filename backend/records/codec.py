"""Sealing document content into its stored form ``{"meta", "enc"}`` and opening it again."""

from __future__ import annotations

from typing import Any

from backend.common.schemas import schema_for, schemas
from backend.keys.services import case_key_by_kid, case_key_current
from sync import DecryptionError, InvalidDocument, decrypt_body, encrypt_body

__all__ = ["open_body", "refusal_reason", "schema_for", "schemas", "seal"]


def seal(*, doc_id: str, doc_type: str, case_id: str, content: dict[str, Any]) -> dict[str, Any]:
    """Split ``content`` into clear meta and a body encrypted under the case's current key."""
    meta, secret = schema_for(doc_type).split(content)
    kid, key = case_key_current(case_id=case_id)
    enc = encrypt_body(secret, key=key, kid=kid, doc_id=doc_id, doc_type=doc_type, case_id=case_id)
    return {"meta": meta, "enc": enc}


def open_body(*, doc_id: str, doc_type: str, case_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Decrypt a stored body back into content; ``DecryptionError`` if it does not open."""
    enc = body.get("enc")
    if not isinstance(enc, dict) or not isinstance(enc.get("kid"), str):
        raise DecryptionError()
    kid = enc["kid"]
    if not kid.startswith(case_id + "#"):
        raise DecryptionError()
    try:
        key = case_key_by_kid(kid=kid)
    except Exception as exc:  # unknown kid: same opaque answer as a bad tag
        raise DecryptionError() from exc
    secret = decrypt_body(enc, key=key, doc_id=doc_id, doc_type=doc_type, case_id=case_id)
    return schema_for(doc_type).join(body.get("meta") or {}, secret)


def refusal_reason(exc: InvalidDocument) -> str:
    """What the server says about an invalid document: the rule broken and the field path,
    never a name or value the client sent (even an identifier-like unknown field name could be
    case data used as a key)."""
    if exc.rule == "unknown_field":
        return f"{exc.field or '(document)'}: unknown field(s) (field name(s) not shown)"
    return exc.reason
