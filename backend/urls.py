"""URL map: REST API under /api/, replication under /sync/, Django admin under /admin/."""

from django.contrib import admin
from django.urls import include, path, register_converter
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from backend.accounts import apis as accounts
from backend.attention import apis as attention
from backend.audit import apis as audit
from backend.cases import apis as cases
from backend.records import apis as records
from backend.review import apis as review


class IdConverter:
    """Positive integer ids that fit a database bigint (``<int:>`` would overflow)."""

    regex = "[1-9][0-9]{0,17}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


class DeviceIdConverter(IdConverter):
    """A device's id as every device output shows it (``d:82``), or its bare number (``82``,
    which older clients send): a client reads ``id`` from a response and puts it in the URL."""

    regex = "(?:d:)?[1-9][0-9]{0,17}"

    def to_python(self, value: str) -> int:
        return int(value.removeprefix("d:"))


register_converter(IdConverter, "id")
register_converter(DeviceIdConverter, "device")

api = [
    path("auth/token/", accounts.TokenObtainApi.as_view(), name="auth-token"),
    path("auth/logout/", accounts.LogoutApi.as_view(), name="auth-logout"),
    path("me/", accounts.MeApi.as_view(), name="me"),
    path("teams/", accounts.TeamListApi.as_view(), name="teams"),
    path("users/<id:user_id>/unlock/", accounts.UserUnlockApi.as_view(), name="user-unlock"),
    path("cases/", cases.CaseListCreateApi.as_view(), name="cases"),
    path("cases/<str:case_id>/", cases.CaseDetailApi.as_view(), name="case-detail"),
    path("cases/<str:case_id>/close/", cases.CaseCloseApi.as_view(), name="case-close"),
    path(
        "cases/<str:case_id>/allocations/",
        cases.AllocationListCreateApi.as_view(),
        name="case-allocations",
    ),
    path(
        "allocations/<id:allocation_id>/end/",
        cases.AllocationEndApi.as_view(),
        name="allocation-end",
    ),
    path("cases/<str:case_id>/people/", records.PersonListCreateApi.as_view(), name="case-people"),
    path("cases/<str:case_id>/visits/", records.VisitListCreateApi.as_view(), name="case-visits"),
    path("cases/<str:case_id>/notes/", records.NoteListCreateApi.as_view(), name="case-notes"),
    path("cases/<str:case_id>/addenda/", records.AddendumListCreateApi.as_view(), name="case-addenda"),
    path("people/<str:doc_id>/", records.PersonDetailApi.as_view(), name="person-detail"),
    path("people/<str:doc_id>/export/", records.PersonExportApi.as_view(), name="person-export"),
    path("visits/<str:doc_id>/", records.VisitDetailApi.as_view(), name="visit-detail"),
    path("notes/<str:doc_id>/", records.NoteDetailApi.as_view(), name="note-detail"),
    path("addenda/<str:doc_id>/", records.AddendumDetailApi.as_view(), name="addendum-detail"),
    path("devices/", accounts.DeviceListCreateApi.as_view(), name="devices"),
    path("devices/wiped/", accounts.DeviceWipedApi.as_view(), name="device-wiped"),
    path("devices/<device:device_id>/token/", accounts.DeviceTokenApi.as_view(), name="device-token"),
    path("devices/me/checkin/", accounts.DeviceCheckinApi.as_view(), name="device-checkin"),
    *(
        path(
            f"devices/<device:device_id>/{move}/",
            accounts.DeviceMoveApi.as_view(move=move),
            name=f"device-{move}",
        )
        for move in ("retire", "revoke", "readmit", "wipe")
    ),
    path("visits/<str:doc_id>/submit/", review.VisitSubmitApi.as_view(), name="visit-submit"),
    path("visits/<str:doc_id>/sign-off/", review.VisitSignOffApi.as_view(), name="visit-sign-off"),
    path("visits/<str:doc_id>/return/", review.VisitReturnApi.as_view(), name="visit-return"),
    path("addenda/<str:doc_id>/acknowledge/", review.AddendumAcknowledgeApi.as_view(), name="addendum-ack"),
    path("review/queue/", review.ReviewQueueApi.as_view(), name="review-queue"),
    path("review/conflicts/<id:conflict_id>/", review.ConflictDetailApi.as_view(), name="conflict-detail"),
    path(
        "review/conflicts/<id:conflict_id>/decide/",
        review.ConflictDecideApi.as_view(),
        name="conflict-decide",
    ),
    path("attention/", attention.AttentionListApi.as_view(), name="attention"),
    path(
        "attention/<str:item_id>/dismiss/", attention.AttentionDismissApi.as_view(), name="attention-dismiss"
    ),
    path("directory/", attention.DirectoryApi.as_view(), name="directory"),
    path("audit/", audit.AuditListApi.as_view(), name="audit"),
    path("audit/export/", audit.AuditExportApi.as_view(), name="audit-export"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]

urlpatterns = [
    path("", RedirectView.as_view(url="/app/", permanent=False)),
    path("api/", include(api)),
    path("api/tablet/", include("backend.webapp.api_urls")),
    path("sync/", include("backend.syncapi.urls")),
    path("admin/", admin.site.urls),
    path("app/", include("backend.webapp.urls")),
]

handler400 = "backend.common.fallbacks.bad_request"
handler403 = "backend.common.fallbacks.permission_denied"
handler404 = "backend.common.fallbacks.not_found"
handler500 = "backend.common.fallbacks.server_error"
