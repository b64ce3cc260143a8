"""Token login/logout and the caller's own profile."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.common.http import actor_of, client_ip
from backend.common.serializers import StrictSerializer

from .devices import device_enrol, device_revoke, device_token_renew, device_wipe_confirm, devices_visible_to
from .models import Device, Team, User
from .services import token_revoke, user_login


class TeamOutput(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "name", "service"]


class UserOutput(serializers.ModelSerializer):
    teams = TeamOutput(many=True, read_only=True)
    managed_teams = TeamOutput(many=True, read_only=True)
    ref = serializers.CharField(read_only=True)

    class Meta:
        model = User
        fields = [
            "id",
            "ref",
            "username",
            "first_name",
            "last_name",
            "role",
            "job_title",
            "teams",
            "managed_teams",
        ]


class TokenObtainApi(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    class TokenObtainInput(StrictSerializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=256, trim_whitespace=False)

    @extend_schema(
        request=TokenObtainInput,
        responses={
            200: inline_serializer(
                "TokenOutput",
                {
                    "token": serializers.CharField(),
                    "expires_at": serializers.DateTimeField(),
                    "user": UserOutput(),
                },
            )
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = self.TokenObtainInput(data=request.data)
        data.is_valid(raise_exception=True)
        secret, token = user_login(
            username=data.validated_data["username"],
            password=data.validated_data["password"],
            ip=client_ip(request),
        )
        return Response(
            {"token": secret, "expires_at": token.expires_at, "user": UserOutput(token.user).data}
        )


class LogoutApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        token_revoke(token=request.auth, actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    @extend_schema(responses=UserOutput)
    def get(self, request: Request) -> Response:
        return Response(UserOutput(request.user).data)


class TeamListApi(APIView):
    @extend_schema(responses=TeamOutput(many=True))
    def get(self, request: Request) -> Response:
        return Response(TeamOutput(Team.objects.order_by("name"), many=True).data)


class DeviceOutput(serializers.ModelSerializer):
    id = serializers.SerializerMethodField()
    pk = serializers.IntegerField(read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Device
        fields = [
            "id",
            "pk",
            "username",
            "name",
            "public_key",
            "app_version",
            "status",
            "enrolled_at",
            "last_seen_at",
            "last_sync_at",
            "revoked_at",
            "wipe_ordered_at",
        ]

    def get_id(self, obj: Device) -> str:
        return f"d:{obj.pk}"


class DeviceListCreateApi(APIView):
    class DeviceEnrolInput(StrictSerializer):
        name = serializers.CharField(max_length=100)
        public_key = serializers.CharField(
            max_length=64, help_text="X25519 public key, base64 of the raw 32 bytes"
        )
        app_version = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")

    @extend_schema(responses=DeviceOutput(many=True), tags=["Devices"])
    def get(self, request: Request) -> Response:
        return Response(DeviceOutput(devices_visible_to(request.user), many=True).data)

    @extend_schema(
        request=DeviceEnrolInput,
        responses={
            201: inline_serializer(
                "DeviceEnrolOutput",
                {
                    "device": DeviceOutput(),
                    "token": serializers.CharField(),
                    "expires_at": serializers.DateTimeField(),
                },
            )
        },
        tags=["Devices"],
    )
    def post(self, request: Request) -> Response:
        data = self.DeviceEnrolInput(data=request.data)
        data.is_valid(raise_exception=True)
        device, secret, token = device_enrol(actor=actor_of(request), **data.validated_data)
        return Response(
            {"device": DeviceOutput(device).data, "token": secret, "expires_at": token.expires_at},
            status=status.HTTP_201_CREATED,
        )


class DeviceTokenApi(APIView):
    @extend_schema(
        request=None,
        responses=inline_serializer(
            "DeviceTokenOutput", {"token": serializers.CharField(), "expires_at": serializers.DateTimeField()}
        ),
        tags=["Devices"],
    )
    def post(self, request: Request, device_id: int) -> Response:
        secret, token = device_token_renew(actor=actor_of(request), device_id=device_id)
        return Response({"token": secret, "expires_at": token.expires_at})


class DeviceRevokeApi(APIView):
    @extend_schema(request=None, responses=DeviceOutput, tags=["Devices"])
    def post(self, request: Request, device_id: int) -> Response:
        return Response(
            DeviceOutput(device_revoke(actor=actor_of(request), device_id=device_id, wipe=False)).data
        )


class DeviceWipeApi(APIView):
    @extend_schema(request=None, responses=DeviceOutput, tags=["Devices"])
    def post(self, request: Request, device_id: int) -> Response:
        return Response(
            DeviceOutput(device_revoke(actor=actor_of(request), device_id=device_id, wipe=True)).data
        )


class DeviceWipedApi(APIView):
    """Called by a device, with its own (revoked) token, after it erased its data."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(request=None, responses={204: None}, tags=["Devices"])
    def post(self, request: Request) -> Response:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, secret = header.partition(" ")
        if scheme.lower() not in {"token", "bearer"} or not secret.strip():
            raise NotAuthenticated()
        device_wipe_confirm(token_secret=secret.strip(), ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
