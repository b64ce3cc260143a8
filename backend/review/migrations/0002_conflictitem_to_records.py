"""ConflictItem now lives in records (same table): removed from this app's state only."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("review", "0001_initial"), ("records", "0003_conflictitem")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[migrations.DeleteModel(name="ConflictItem")],
        ),
    ]
