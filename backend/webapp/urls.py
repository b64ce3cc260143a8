"""/app/ → the app shell; /app/<file> → a file of the built bundle."""

from django.urls import path

from . import views

app_name = "webapp"

urlpatterns = [
    path("", views.app_shell, name="shell"),
    path("<path:name>", views.app_file, name="file"),
]
