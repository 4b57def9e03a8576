"""On PostgreSQL, a trigram index for the Jobs page's item search (any part of a VM's name, in any case).

Django's `icontains` is `UPPER(item_name::text) LIKE UPPER('%...%')`, which no b-tree can answer: a vault with
40,000 jobs was read row by row (20-45 ms a page). A GIN index of that very expression's trigrams answers it in a
few milliseconds. pg_trgm is a trusted extension (a database owner may create it); where the portal's role may
not, the search keeps working without the index and the migration says so. SQLite has neither: nothing to do.
The index builds CONCURRENTLY, so job writes go on meanwhile (backup/jobs/online_indexes.py).
"""

import logging

from django.db import migrations, transaction

from backup.jobs.online_indexes import drop_invalid_index

INDEX = "job_item_name_trgm"
logger = logging.getLogger(__name__)


def create_index(apps, schema_editor) -> None:
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except Exception as refused:  # noqa: BLE001 - the index is an optimisation; the search works without it
        logger.warning("pg_trgm is not available (%s): the Jobs item search reads without an index", refused)
        return
    drop_invalid_index(schema_editor, INDEX)
    schema_editor.execute(
        f'CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON "jobs_job" USING gin ((UPPER("item_name"::text)) gin_trgm_ops)'
    )


def drop_index(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction
    dependencies = [("jobs", "0007_job_vault_started_id_nomaint")]

    operations = [migrations.RunPython(create_index, drop_index)]
