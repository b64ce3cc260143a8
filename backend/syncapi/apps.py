from django.apps import AppConfig


class SyncapiConfig(AppConfig):
    name = "backend.syncapi"
    label = "syncapi"
