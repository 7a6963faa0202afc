"""PostgreSQL only: a trigram index on the search column, so list searches (`LIKE '%word%'`)
use an index instead of scanning every row. SQLite keeps the plain scan (no such index type).

`pg_trgm` ships with PostgreSQL; creating the extension needs the CREATE privilege on the
database. Without it the migration logs why and carries on: searches stay correct, only slower.
"""

import logging

from django.db import DatabaseError, migrations, transaction

logger = logging.getLogger(__name__)

INDEX = "readmodel_rec_search_trgm"


def create_trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            schema_editor.execute(
                f"CREATE INDEX IF NOT EXISTS {INDEX} ON readmodel_mirroredrecord "
                "USING gin (search_text gin_trgm_ops)"
            )
    except DatabaseError as error:
        logger.warning("No trigram index on the read model's search column: %s", error)


def drop_trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("readmodel", "0001_initial")]

    operations = [migrations.RunPython(create_trigram_index, drop_trigram_index)]
