"""Per-case document counts (a projection), filled from the existing documents."""

from django.db import migrations, models
from django.db.models import Count, Q


def count_documents(apps, schema_editor):
    Case = apps.get_model("cases", "Case")
    Document = apps.get_model("records", "Document")
    counts = Document.objects.values("case_id").annotate(
        live=Count("id", filter=Q(deleted=False)), dead=Count("id", filter=Q(deleted=True))
    )
    for row in counts:
        Case.objects.filter(pk=row["case_id"]).update(doc_count=row["live"], deleted_doc_count=row["dead"])


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0001_initial"),
        ("records", "0002_change_sequence"),
    ]

    operations = [
        migrations.AddField(
            model_name="case", name="doc_count", field=models.PositiveIntegerField(default=0)
        ),
        migrations.AddField(
            model_name="case", name="deleted_doc_count", field=models.PositiveIntegerField(default=0)
        ),
        migrations.RunPython(count_documents, migrations.RunPython.noop),
    ]
