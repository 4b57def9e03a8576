"""The jobs table's indexes are built without stopping job writes: CONCURRENTLY on PostgreSQL, and a build that
was interrupted is dropped and built again on the next try instead of failing the migration."""

import importlib

import pytest
from django.db import DatabaseError, connection
from django.db.migrations.loader import MigrationLoader

from backup.jobs.models import Job

TRIGRAM = importlib.import_module("backup.jobs.migrations.0008_job_item_name_trigram")


def _collected_sql(name: str, before: str) -> list[str]:
    loader = MigrationLoader(connection)
    state = loader.project_state(("jobs", before), at_end=True)
    with connection.schema_editor(collect_sql=True, atomic=False) as editor:
        loader.get_migration("jobs", name).apply(state, editor, collect_sql=True)
    return editor.collected_sql


def _validity(name: str) -> bool | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s", [name]
        )
        row = cursor.fetchone()
    return row[0] if row else None


@pytest.mark.django_db(transaction=True)  # SQLite's schema editor refuses to start inside a transaction
def test_the_dashboard_index_is_built_before_the_old_one_goes_and_concurrently_on_postgresql():
    sql = _collected_sql("0009_job_nomaint_index_with_status", before="0008_job_item_name_trigram")
    create = next(i for i, s in enumerate(sql) if "CREATE INDEX" in s and "job_vault_started_nomaint_st" in s)
    drop = next(i for i, s in enumerate(sql) if "DROP INDEX" in s and "job_vault_started_id_nomaint" in s)
    assert create < drop  # the dashboard's counts always have an index to read
    online = connection.vendor == "postgresql"
    assert ("CONCURRENTLY" in sql[create]) is online and ("CONCURRENTLY" in sql[drop]) is online, sql


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL builds indexes concurrently")
def test_an_interrupted_trigram_build_is_dropped_and_built_again(alpha):
    for name in ("web01", "web02"):
        Job.objects.create(subscription=alpha, vault_id=1, item_name=name, operation="backup")
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX {TRIGRAM.INDEX}")
            # A concurrent build that fails half-way leaves an invalid index of its name, as a killed one does.
            with pytest.raises(DatabaseError):
                cursor.execute(f"CREATE UNIQUE INDEX CONCURRENTLY {TRIGRAM.INDEX} ON jobs_job ((1))")
        assert _validity(TRIGRAM.INDEX) is False
    finally:
        with connection.schema_editor(atomic=False) as editor:
            TRIGRAM.create_index(None, editor)

    assert _validity(TRIGRAM.INDEX) is True
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [TRIGRAM.INDEX])
        assert "gin_trgm_ops" in cursor.fetchone()[0]
