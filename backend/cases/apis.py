"""REST endpoints for cases and their allocations."""

from __future__ import annotations

import functools
from datetime import date, datetime, tzinfo
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.accounts.models import Team, User
from backend.common.errors import ApplicationError, ErrorCode
from backend.common.http import actor_of
from backend.common.openapi import paginated
from backend.common.pagination import Pagination
from backend.common.serializers import StrictSerializer, content_field_class, id_field
from backend.records.apis import (
    REV_PATTERN,
    document_output,
    document_output_serializer,
    update_input,
)
from backend.records.codec import open_body
from backend.records.selectors import winning_bodies
from backend.records.services import document_read, document_update

from .models import Allocation, Case
from .selectors import (
    AllocationRow,
    allocation_history,
    case_in_scope,
    case_list,
    live_allocations,
    visit_timescale,
)
from .services import allocation_add, allocation_end, case_close, case_create


class AllocationOutput(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")
    name = serializers.SerializerMethodField()
    active = serializers.BooleanField()

    class Meta:
        model = Allocation
        fields = [
            "id",
            "user",
            "username",
            "name",
            "role",
            "active",
            "started_at",
            "started_seq",
            "ended_at",
            "ended_seq",
        ]

    def get_name(self, obj: Allocation) -> str:
        return obj.user.get_full_name() or obj.user.username


class CaseSummaryOutput(serializers.Serializer):
    id = serializers.CharField()
    rev = serializers.CharField()
    case_number = serializers.CharField()
    case_type = serializers.CharField()
    status = serializers.CharField()
    team = inline_serializer("CaseTeam", {"id": serializers.IntegerField(), "name": serializers.CharField()})
    family_name = serializers.CharField()
    visit_frequency_days = serializers.IntegerField()
    last_visit_on = serializers.DateField(allow_null=True)
    next_visit_due = serializers.DateField()
    overdue = serializers.BooleanField()
    allocations = AllocationOutput(many=True)


_datetime = serializers.DateTimeField()  # the same format AllocationOutput renders


def _datetime_json(value: datetime | None, zone: tzinfo) -> str | None:
    """``_datetime.to_representation(value)`` for the aware datetimes the database returns, with
    the current time zone looked up once per response rather than once per value."""
    if value is None or timezone.is_naive(value):
        return _datetime.to_representation(value)
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def allocation_json(allocation: AllocationRow, *, zone: tzinfo | None = None) -> dict[str, Any]:
    """What AllocationOutput renders, from a ``live_allocations`` row: the case list renders
    dozens per request and DRF's ModelSerializer costs ~0.7 ms each."""
    zone = zone or timezone.get_current_timezone()
    full_name = f"{allocation.first_name} {allocation.last_name}".strip()  # as User.get_full_name
    return {
        "id": allocation.id,
        "user": allocation.user_id,
        "username": allocation.username,
        "name": full_name or allocation.username,
        "role": allocation.role,
        "active": allocation.ended_seq is None,
        "started_at": _datetime_json(allocation.started_at, zone),
        "started_seq": allocation.started_seq,
        "ended_at": _datetime_json(allocation.ended_at, zone),
        "ended_seq": allocation.ended_seq,
    }


def _case_extras(
    case: Any, *, team_name: str, allocations: list[AllocationRow], today: date | None = None
) -> dict[str, Any]:
    """The relational fields a case shows; ``case`` is a ``Case`` or a ``case_list`` row."""
    timescale = visit_timescale(case, today=today or timezone.localdate())
    zone = timezone.get_current_timezone()
    return {
        "case_number": case.case_number,
        "case_type": case.case_type,
        "status": case.status,
        "team": {"id": case.team_id, "name": team_name},
        "visit_frequency_days": case.visit_frequency_days,
        "last_visit_on": timescale.last_visit_on,
        "next_visit_due": timescale.next_visit_due,
        "overdue": timescale.overdue,
        "allocations": [allocation_json(a, zone=zone) for a in allocations],
    }


def _one_case_extras(case_id: str) -> dict[str, Any]:
    case = Case.objects.select_related("team").get(pk=case_id)
    allocations = live_allocations(case_ids=[case_id])[case_id]
    return _case_extras(case, team_name=case.team.name, allocations=allocations)


@functools.cache
def _unfiltered(serializer: type[StrictSerializer]) -> dict[str, Any]:
    """What ``serializer`` makes of no query parameters (defaults only), worked out once."""
    filters = serializer(data={})
    filters.is_valid(raise_exception=True)
    return dict(filters.validated_data)


class CaseListCreateApi(APIView):
    class CaseFilter(StrictSerializer):
        status = serializers.ChoiceField(choices=["open", "closed"], required=False)
        case_type = serializers.ChoiceField(
            choices=[c for c, _ in Case._meta.get_field("case_type").choices], required=False
        )
        team = id_field(required=False)
        case_number = serializers.CharField(required=False, max_length=20)
        allocated_to = id_field(required=False)
        overdue = serializers.BooleanField(required=False, allow_null=True, default=None)
        page = id_field(required=False)
        page_size = serializers.IntegerField(required=False, min_value=1, max_value=200)

    class CaseCreateInput(StrictSerializer):
        team = id_field()
        id = serializers.RegexField(r"^case:[0-9A-Z]{26}$", required=False)
        content = content_field_class("case", partial=True)()

    @classmethod
    def _filters(cls, request: Request) -> dict[str, Any]:
        if not request.query_params:  # the common case: the answer is always the same
            return dict(_unfiltered(cls.CaseFilter))
        filters = cls.CaseFilter(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return dict(filters.validated_data)

    @extend_schema(
        parameters=[CaseFilter],
        responses=paginated(CaseSummaryOutput),
        tags=["Cases"],
        operation_id="cases_list",
    )
    def get(self, request: Request) -> Response:
        filters = self._filters(request)
        today = timezone.localdate()
        overdue = filters.get("overdue")
        cases: Any = case_list(user=request.user, filters=filters)
        if overdue is not None:  # "overdue" is worked out in Python (working days), so filter before paging
            cases = [c for c in cases if visit_timescale(c, today=today).overdue == overdue]
        paginator = Pagination()
        page = paginator.paginate_queryset(cases, request, view=self)
        case_ids = [c.id for c in page]
        allocations = live_allocations(case_ids=case_ids)
        bodies = winning_bodies(doc_ids=case_ids)
        items = []
        for case in page:
            rev, body = bodies[case.id]
            # The family name is the one encrypted field the list shows; nothing else is kept.
            content = open_body(doc_id=case.id, doc_type="case", case_id=case.id, body=body)
            items.append(
                {
                    "id": case.id,
                    "rev": rev,
                    "family_name": content.get("family_name", ""),
                    **_case_extras(
                        case, team_name=case.team__name, allocations=allocations[case.id], today=today
                    ),
                }
            )
        return paginator.get_paginated_response(items)

    @extend_schema(
        request=CaseCreateInput, responses={201: document_output_serializer("case")}, tags=["Cases"]
    )
    def post(self, request: Request) -> Response:
        data = self.CaseCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        team = Team.objects.filter(pk=data.validated_data["team"]).first()
        if team is None:
            raise ApplicationError(ErrorCode.INVALID_FIELD, "no such team", field="team")
        view = case_create(
            actor=actor_of(request),
            team=team,
            content=data.validated_data["content"],
            case_id=data.validated_data.get("id"),
        )
        return Response(
            {**document_output(view), **_one_case_extras(view.id)}, status=status.HTTP_201_CREATED
        )


class CaseDetailApi(APIView):
    @extend_schema(responses=document_output_serializer("case"), tags=["Cases"])
    def get(self, request: Request, case_id: str) -> Response:
        view = document_read(actor=actor_of(request), doc_id=case_id, doc_type="case")
        return Response({**document_output(view), **_one_case_extras(case_id)})

    def _update(self, request: Request, case_id: str, *, partial: bool) -> Response:
        case_in_scope(request.user, case_id)  # outside scope answers like a missing case
        data = update_input("case", partial=partial)(data=request.data)
        data.is_valid(raise_exception=True)
        view = document_update(
            actor=actor_of(request),
            doc_id=case_id,
            rev=data.validated_data["rev"],
            content=data.validated_data["content"],
            partial=partial,
            doc_type="case",
        )
        return Response({**document_output(view), **_one_case_extras(case_id)})

    @extend_schema(
        request=update_input("case", partial=False),
        responses=document_output_serializer("case"),
        tags=["Cases"],
    )
    def put(self, request: Request, case_id: str) -> Response:
        return self._update(request, case_id, partial=False)

    @extend_schema(
        request=update_input("case", partial=True),
        responses=document_output_serializer("case"),
        tags=["Cases"],
    )
    def patch(self, request: Request, case_id: str) -> Response:
        return self._update(request, case_id, partial=True)


class CaseCloseApi(APIView):
    class CaseCloseInput(StrictSerializer):
        rev = serializers.RegexField(REV_PATTERN)

    @extend_schema(request=CaseCloseInput, responses=document_output_serializer("case"), tags=["Cases"])
    def post(self, request: Request, case_id: str) -> Response:
        case_in_scope(request.user, case_id)  # before the body: an outsider learns nothing
        data = self.CaseCloseInput(data=request.data)
        data.is_valid(raise_exception=True)
        view = case_close(actor=actor_of(request), case_id=case_id, rev=data.validated_data["rev"])
        return Response({**document_output(view), **_one_case_extras(case_id)})


class AllocationListCreateApi(APIView):
    class AllocationCreateInput(StrictSerializer):
        user = id_field()
        role = serializers.ChoiceField(choices=Allocation.Role.values)

    @extend_schema(
        parameters=[OpenApiParameter("history", bool, description="Include ended allocations.")],
        responses=AllocationOutput(many=True),
        tags=["Allocations"],
    )
    def get(self, request: Request, case_id: str) -> Response:
        case = case_in_scope(request.user, case_id)
        qs = allocation_history(case=case)
        if request.query_params.get("history", "").lower() not in {"1", "true", "yes"}:
            qs = qs.filter(ended_seq__isnull=True)
        return Response(AllocationOutput(qs, many=True).data)

    @extend_schema(request=AllocationCreateInput, responses={201: AllocationOutput}, tags=["Allocations"])
    def post(self, request: Request, case_id: str) -> Response:
        case_in_scope(request.user, case_id)
        data = self.AllocationCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = User.objects.filter(pk=data.validated_data["user"]).first()
        if user is None:
            raise ApplicationError(ErrorCode.INVALID_FIELD, "no such user", field="user")
        allocation = allocation_add(
            actor=actor_of(request), case_id=case_id, user=user, role=data.validated_data["role"]
        )
        return Response(AllocationOutput(allocation).data, status=status.HTTP_201_CREATED)


class AllocationEndApi(APIView):
    @extend_schema(request=None, responses=AllocationOutput, tags=["Allocations"])
    def post(self, request: Request, allocation_id: int) -> Response:
        allocation = allocation_end(actor=actor_of(request), allocation_id=allocation_id)
        return Response(AllocationOutput(allocation).data)
