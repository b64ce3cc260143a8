"""Documents with CouchDB revision trees, every revision body (ciphertext), and projections."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class SeqTick(models.Model):
    """SQLite's source of global sequence numbers (PostgreSQL uses a real SEQUENCE)."""

    seq = models.BigAutoField(primary_key=True)


class Document(models.Model):
    id = models.CharField(max_length=40, primary_key=True)
    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT, related_name="documents")
    doc_type = models.CharField(max_length=20)
    #: Global sequence number of the latest change to this document.
    seq = models.BigIntegerField(db_index=True)
    #: Winning revision (CouchDB's rule) and whether it is a deletion.
    rev = models.CharField(max_length=80)
    deleted = models.BooleanField(default=False)
    #: ``sync.revtree.to_json`` of the (stemmed) revision tree.
    tree = models.JSONField()
    #: Clear-text ``meta`` of the winning revision (workflow fields only, never personal data).
    meta = models.JSONField(default=dict)
    schema_version = models.PositiveSmallIntegerField(default=1)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["case", "seq"]),
            models.Index(fields=["case", "doc_type"]),
        ]


class Revision(models.Model):
    """One revision body exactly as stored on the wire: ``{"meta", "enc"}`` (ciphertext)."""

    class Origin(models.TextChoices):
        REST = "rest", "REST API"
        SYNC = "sync", "Replication"
        MERGE = "merge", "Server merge"
        DECISION = "decision", "Supervisor decision"
        WORKFLOW = "workflow", "Workflow transition"
        SYSTEM = "system", "System"

    document = models.ForeignKey(Document, on_delete=models.PROTECT, related_name="revisions")
    rev = models.CharField(max_length=80)
    generation = models.PositiveIntegerField()
    parent_rev = models.CharField(max_length=80, blank=True)
    deleted = models.BooleanField(default=False)
    body = models.JSONField()
    seq = models.BigIntegerField()
    created_at = models.DateTimeField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    device = models.ForeignKey(
        "accounts.Device", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    origin = models.CharField(max_length=10, choices=Origin.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["document", "rev"], name="one_body_per_rev")]


class VisitRecord(models.Model):
    """Projection of each ``visit`` document for the review queue and overdue list."""

    document = models.OneToOneField(
        Document, on_delete=models.PROTECT, primary_key=True, related_name="visit"
    )
    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT, related_name="visit_records")
    status = models.CharField(max_length=20, db_index=True)
    visit_date = models.DateTimeField(null=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    signed_off_at = models.DateTimeField(null=True, blank=True)
    deleted = models.BooleanField(default=False)
    needs_decision = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["case", "status"])]


class ConflictItem(models.Model):
    """One undecided field of one document, waiting for a supervisor. The competing values are
    case data, so they are stored encrypted under the case key (``values_enc``), never in clear.

    Written by the merge (``records.conflicts``), decided through ``review``; its table keeps
    the name it had when the model lived in the review app."""

    document = models.ForeignKey("records.Document", on_delete=models.PROTECT, related_name="conflicts")
    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT, related_name="conflicts")
    #: Dotted path of the field (``risk_level``, ``actions[a1].owner``) or ``(document)``.
    field = models.CharField(max_length=200)
    rule = models.CharField(max_length=20)
    #: The merged revision that showed the safe value while this waits.
    merged_rev = models.CharField(max_length=80)
    #: Authors, times, revs and devices of each candidate (no values).
    candidates = models.JSONField()
    #: ``encrypt_body({"base": …, "values": [...]})`` under the case key.
    values_enc = models.JSONField()
    created_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decision_rev = models.CharField(max_length=80, blank=True)
    #: How it was decided: ``version`` (``decision_choice``: the candidate kept), ``both``
    #: (every version kept, text fields) or ``own`` (a value the supervisor wrote).
    decision = models.CharField(max_length=10, blank=True)
    decision_choice = models.PositiveSmallIntegerField(null=True, blank=True)
    #: The supervisor's reason, ``encrypt_body({"reason": …})`` under the case key (case data).
    reason_enc = models.JSONField(null=True, blank=True)

    class Meta:
        db_table = "review_conflictitem"
        indexes = [models.Index(fields=["case", "decided_at"], name="review_conf_case_id_78b071_idx")]
