"""/api/tablet/…: the tablet app's settings and its audited discard of unsent work."""

from django.urls import path

from . import apis

urlpatterns = [
    path("settings/", apis.TabletSettingsApi.as_view(), name="tablet-settings"),
    path("discard-unsent/", apis.UnsentDiscardApi.as_view(), name="tablet-discard-unsent"),
]
