from django.apps import AppConfig


class KeysConfig(AppConfig):
    name = "backend.keys"
    label = "keys"
