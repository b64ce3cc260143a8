"""The roles a user can hold; below every app, so an app can check a role without importing accounts."""

from django.db import models


class Role(models.TextChoices):
    PRACTITIONER = "practitioner", "Practitioner"
    SUPERVISOR = "supervisor", "Supervisor"
    ADMIN = "admin", "Admin"
