from django.apps import AppConfig


class RecordsConfig(AppConfig):
    name = "backend.records"
    label = "records"
