"""ConflictItem moves from the review app to records (the merge writes it), keeping its table."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0001_initial"),
        ("records", "0002_change_sequence"),
        ("review", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="ConflictItem",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("field", models.CharField(max_length=200)),
                        ("rule", models.CharField(max_length=20)),
                        ("merged_rev", models.CharField(max_length=80)),
                        ("candidates", models.JSONField()),
                        ("values_enc", models.JSONField()),
                        ("created_at", models.DateTimeField()),
                        ("decided_at", models.DateTimeField(blank=True, null=True)),
                        ("decision_rev", models.CharField(blank=True, max_length=80)),
                        (
                            "case",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="conflicts",
                                to="cases.case",
                            ),
                        ),
                        (
                            "decided_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "document",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="conflicts",
                                to="records.document",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "review_conflictitem",
                        "indexes": [
                            models.Index(fields=["case", "decided_at"], name="review_conf_case_id_78b071_idx")
                        ],
                    },
                ),
            ],
        ),
    ]
