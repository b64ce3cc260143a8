"""Serves the built tablet/supervisor web app (clients/web/dist) at /app/."""

from django.apps import AppConfig


class WebappConfig(AppConfig):
    name = "backend.webapp"
    label = "webapp"
    verbose_name = "Web app"
