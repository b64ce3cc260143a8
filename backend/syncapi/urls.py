"""Routes of the CouchDB-compatible replication endpoint."""

from django.urls import path, re_path

from . import views

urlpatterns = [
    path("", views.server_root),
    path("_all_dbs", views.all_dbs),
    path("caseload", views.database),
    path("caseload/", views.database),
    path("caseload/_changes", views.changes),
    path("caseload/_revs_diff", views.revs_diff),
    path("caseload/_bulk_get", views.bulk_get),
    path("caseload/_bulk_docs", views.bulk_docs),
    path("caseload/_all_docs", views.all_docs),
    path("caseload/_ensure_full_commit", views.ensure_full_commit),
    re_path(r"^caseload/_local/(?P<local_id>.+)$", views.local_doc),
    re_path(r"^caseload/(?P<doc_id>[^/].*)$", views.document),
]
