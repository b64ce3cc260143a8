"""Supervisor review over REST: the queue, visit transitions, conflict decisions, addenda."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.accounts.apis import ColleagueOutput
from backend.accounts.models import Device
from backend.accounts.names import person, users_by_ref
from backend.audit.models import AuditAction
from backend.audit.services import audit_record
from backend.common.errors import Forbidden, NotFound, OutOfScope
from backend.common.http import actor_of
from backend.common.serializers import StrictSerializer
from backend.records.apis import REV_PATTERN, document_output, document_output_serializer
from backend.records.permissions import can_read_case

from .models import ConflictItem
from .selectors import awaiting_sign_off, late_edits, open_addenda, open_conflicts, overdue_cases
from .services import (
    addendum_acknowledge,
    conflict_decide,
    conflict_reason,
    conflict_values,
    visit_return,
    visit_sign_off,
    visit_submit,
)


class RevInput(StrictSerializer):
    rev = serializers.RegexField(REV_PATTERN)


class SignOffInput(StrictSerializer):
    rev = serializers.RegexField(REV_PATTERN)
    comment = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")


class ReturnInput(StrictSerializer):
    rev = serializers.RegexField(REV_PATTERN)
    comment = serializers.CharField(max_length=4000)


@extend_schema_field(OpenApiTypes.ANY)
class AnyValueField(serializers.JSONField):
    pass


@extend_schema_field({"not": {"type": "null"}})
class ValueField(serializers.JSONField):
    """Any JSON value but null (the field's own type is checked against its schema)."""


class DecideInput(StrictSerializer):
    choice = serializers.IntegerField(
        required=False, min_value=0, max_value=100, help_text="keep this version"
    )
    both = serializers.BooleanField(
        required=False, help_text="text fields: keep every version, without markers"
    )
    value = ValueField(required=False, help_text="a value of your own (a reconciled text)")
    reason = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, default="", help_text="required with both or value"
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        given = [name for name in ("choice", "value") if name in attrs] + (
            ["both"] if attrs.get("both") else []
        )
        if len(given) != 1:
            raise serializers.ValidationError({"choice": ["give exactly one of choice, both or value"]})
        return attrs


VISIT_OUT = document_output_serializer("visit")

#: A decision answers the document it decided, of whichever type (told apart by ``type``).
DECIDED_DOCUMENT_OUT = PolymorphicProxySerializer(
    component_name="DecidedDocument",
    serializers={t: document_output_serializer(t) for t in ("case", "person", "visit", "note", "addendum")},
    resource_type_field_name="type",
)


class AwaitingSignOffOutput(serializers.Serializer):
    id = serializers.CharField()
    rev = serializers.CharField()
    case_id = serializers.CharField()
    case_number = serializers.CharField()
    author = serializers.CharField(allow_null=True, help_text="The practitioner's full name.")
    visit_date = serializers.DateTimeField(allow_null=True)
    submitted_at = serializers.DateTimeField(allow_null=True)
    needs_decision = serializers.BooleanField(help_text="A merged field waits for a supervisor's decision.")


class ConflictCandidateOutput(serializers.Serializer):
    rev = serializers.CharField(help_text="The revision that carried this value.")
    author = serializers.CharField(allow_null=True, help_text="User ref (u:7) of whoever wrote it.")
    edited_at = serializers.CharField(allow_null=True)
    device = serializers.CharField(allow_null=True, help_text="Device ref (d:3), if edited on a tablet.")
    by = ColleagueOutput(allow_null=True, help_text="Who wrote it, by name (null if unknown).")
    device_name = serializers.CharField(allow_null=True, help_text="The tablet's name, if edited on one.")


class ConflictCandidateValueOutput(ConflictCandidateOutput):
    value = AnyValueField(help_text="The value this candidate proposes (decrypted).")


class ConflictOutput(serializers.Serializer):
    id = serializers.IntegerField()
    document_id = serializers.CharField()
    document_type = serializers.CharField()
    case_id = serializers.CharField()
    case_number = serializers.CharField()
    field = serializers.CharField(help_text="Dotted path of the field in conflict.")
    rule = serializers.CharField(help_text="The merge rule (x-merge) that could not decide.")
    merged_rev = serializers.CharField()
    created_at = serializers.DateTimeField()
    candidates = ConflictCandidateOutput(many=True)


class ConflictDetailOutput(ConflictOutput):
    base = AnyValueField(help_text="The common ancestor's value (null if none).")
    candidates = ConflictCandidateValueOutput(many=True)
    decided_at = serializers.DateTimeField(allow_null=True)
    decision_rev = serializers.CharField(allow_blank=True)
    decision = serializers.ChoiceField(
        choices=["version", "both", "own"], allow_null=True, help_text="How it was decided (null: open)."
    )
    decision_choice = serializers.IntegerField(allow_null=True, help_text="version: the candidate kept.")
    decided_by = ColleagueOutput(allow_null=True)
    reason = serializers.CharField(allow_null=True, help_text="The supervisor's reason, if any.")


class OpenAddendumOutput(serializers.Serializer):
    id = serializers.CharField()
    rev = serializers.CharField()
    case_id = serializers.CharField()
    case_number = serializers.CharField()
    visit_id = serializers.CharField(allow_null=True)
    author = serializers.CharField(allow_null=True, help_text="User ref (u:7).")
    created_at = serializers.DateTimeField()


class OverdueCaseOutput(serializers.Serializer):
    case_id = serializers.CharField()
    case_number = serializers.CharField()
    case_type = serializers.CharField()
    team = serializers.CharField(help_text="The team's name.")
    last_visit_on = serializers.DateField(allow_null=True)
    next_visit_due = serializers.DateField()
    working_days_overdue = serializers.IntegerField()


class LateEditOutput(serializers.Serializer):
    id = serializers.CharField(help_text="The document edited.")
    document_type = serializers.CharField()
    rev = serializers.CharField(allow_null=True)
    case_id = serializers.CharField()
    case_number = serializers.CharField()
    author = serializers.CharField()
    at = serializers.DateTimeField()


class ReviewQueueOutput(serializers.Serializer):
    awaiting_sign_off = AwaitingSignOffOutput(many=True)
    conflicts = ConflictOutput(many=True)
    addenda = OpenAddendumOutput(many=True)
    overdue = OverdueCaseOutput(many=True)
    late_edits = LateEditOutput(many=True)


class VisitSubmitApi(APIView):
    @extend_schema(request=RevInput, responses=VISIT_OUT, tags=["Review"])
    def post(self, request: Request, doc_id: str) -> Response:
        data = RevInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(
            document_output(
                visit_submit(actor=actor_of(request), visit_id=doc_id, rev=data.validated_data["rev"])
            )
        )


class VisitSignOffApi(APIView):
    @extend_schema(request=SignOffInput, responses=VISIT_OUT, tags=["Review"])
    def post(self, request: Request, doc_id: str) -> Response:
        data = SignOffInput(data=request.data)
        data.is_valid(raise_exception=True)
        view = visit_sign_off(actor=actor_of(request), visit_id=doc_id, **data.validated_data)
        return Response(document_output(view))


class VisitReturnApi(APIView):
    @extend_schema(request=ReturnInput, responses=VISIT_OUT, tags=["Review"])
    def post(self, request: Request, doc_id: str) -> Response:
        data = ReturnInput(data=request.data)
        data.is_valid(raise_exception=True)
        view = visit_return(actor=actor_of(request), visit_id=doc_id, **data.validated_data)
        return Response(document_output(view))


def _candidates(item: ConflictItem, with_values: bool) -> dict[str, Any]:
    names = users_by_ref(c.get("author") for c in item.candidates)
    device_ids = {
        int(d[2:]) for c in item.candidates if isinstance(d := c.get("device"), str) and d[2:].isdigit()
    }
    devices = {
        f"d:{pk}": name for pk, name in Device.objects.filter(pk__in=device_ids).values_list("pk", "name")
    }
    out: dict[str, Any] = {
        "id": item.pk,
        "document_id": item.document_id,
        "document_type": item.document.doc_type,
        "case_id": item.case_id,
        "case_number": item.case.case_number,
        "field": item.field,
        "rule": item.rule,
        "merged_rev": item.merged_rev,
        "created_at": item.created_at,
        "candidates": [
            {**c, "by": person(names.get(c.get("author"))), "device_name": devices.get(c.get("device"))}
            for c in item.candidates
        ],
    }
    if with_values:
        values = conflict_values(item)
        out["base"] = values.get("base")
        out["candidates"] = [
            {**c, "value": v} for c, v in zip(out["candidates"], values["values"], strict=False)
        ]
    return out


class ReviewQueueApi(APIView):
    @extend_schema(responses=ReviewQueueOutput, tags=["Review"])
    def get(self, request: Request) -> Response:
        if request.user.role not in {"supervisor", "admin"}:
            raise Forbidden("the review queue is for supervisors")
        today = timezone.localdate()
        return Response(
            {
                "awaiting_sign_off": [
                    {
                        "id": v.document_id,
                        "rev": v.document.rev,
                        "case_id": v.case_id,
                        "case_number": v.case.case_number,
                        "author": v.author.get_full_name() if v.author else None,
                        "visit_date": v.visit_date,
                        "submitted_at": v.submitted_at,
                        "needs_decision": v.needs_decision or v.open_conflicts,
                    }
                    for v in awaiting_sign_off(request.user)
                ],
                "conflicts": [_candidates(item, with_values=False) for item in open_conflicts(request.user)],
                "addenda": [
                    {
                        "id": d.id,
                        "rev": d.rev,
                        "case_id": d.case_id,
                        "case_number": d.case.case_number,
                        "visit_id": d.meta.get("visit_id"),
                        "author": d.meta.get("author"),
                        "created_at": d.created_at,
                    }
                    for d in open_addenda(request.user)
                ],
                "overdue": [
                    {
                        "case_id": case.id,
                        "case_number": case.case_number,
                        "case_type": case.case_type,
                        "team": case.team.name,
                        "last_visit_on": t.last_visit_on,
                        "next_visit_due": t.next_visit_due,
                        "working_days_overdue": t.working_days_overdue,
                    }
                    for case, t in overdue_cases(request.user, today=today)
                ],
                "late_edits": [
                    {
                        "id": event.object_id,
                        "document_type": event.object_id.split(":", 1)[0],
                        "rev": event.detail.get("rev"),
                        "case_id": case.id,
                        "case_number": case.case_number,
                        "author": (event.actor.get_full_name() if event.actor else "")
                        or event.actor_username,
                        "at": event.at,
                    }
                    for event, case in late_edits(request.user, now=timezone.now())
                ],
            }
        )


class ConflictDetailApi(APIView):
    @extend_schema(responses=ConflictDetailOutput, tags=["Review"])
    def get(self, request: Request, conflict_id: int) -> Response:
        item = (
            ConflictItem.objects.select_related("case", "document", "decided_by")
            .filter(pk=conflict_id)
            .first()
        )
        if item is None:
            raise NotFound("conflict")
        if not can_read_case(request.user, item.case):
            raise OutOfScope(
                "conflict", object_type="conflict", object_id=str(conflict_id), case_id=item.case_id
            )
        audit_record(
            actor=actor_of(request),
            action=AuditAction.READ,
            object_type="conflict",
            object_id=str(item.pk),
            case_id=item.case_id,
        )
        return Response(
            {
                **_candidates(item, with_values=True),
                "decided_at": item.decided_at,
                "decision_rev": item.decision_rev,
                "decision": item.decision or None,
                "decision_choice": item.decision_choice,
                "decided_by": person(item.decided_by),
                "reason": conflict_reason(item),
            }
        )


class ConflictDecideApi(APIView):
    @extend_schema(request=DecideInput, responses=DECIDED_DOCUMENT_OUT, tags=["Review"])
    def post(self, request: Request, conflict_id: int) -> Response:
        data = DecideInput(data=request.data)
        data.is_valid(raise_exception=True)
        view = conflict_decide(
            actor=actor_of(request),
            conflict_id=conflict_id,
            choice=data.validated_data.get("choice"),
            value=data.validated_data.get("value"),
            has_value="value" in data.validated_data,
            both=bool(data.validated_data.get("both")),
            reason=data.validated_data["reason"],
        )
        return Response(document_output(view))


class AddendumAcknowledgeApi(APIView):
    @extend_schema(request=RevInput, responses=document_output_serializer("addendum"), tags=["Review"])
    def post(self, request: Request, doc_id: str) -> Response:
        data = RevInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(
            document_output(
                addendum_acknowledge(
                    actor=actor_of(request), addendum_id=doc_id, rev=data.validated_data["rev"]
                )
            )
        )
