"""Index changes on the jobs table that do not stop job writes while they run.

A plain CREATE INDEX locks the table against writes for the whole build: on a portal with millions of jobs, every
worker's progress, heartbeat and final status would wait for the migration. On PostgreSQL these build and drop
CONCURRENTLY instead (the migration must be `atomic = False`, as PostgreSQL requires); elsewhere (SQLite) they are
Django's own operations. A concurrent build that was interrupted leaves an invalid index of that name behind,
which a second try drops first instead of failing on it.
"""

from django.db.migrations.operations import AddIndex, RemoveIndex


def drop_invalid_index(schema_editor, name: str) -> None:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE c.relname = %s AND NOT i.indisvalid",
            [name],
        )
        invalid = cursor.fetchone() is not None
    if invalid:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(name)}")


class _Concurrently:
    """A PostgreSQL schema editor whose index changes run CONCURRENTLY; everything else is the editor's own."""

    def __init__(self, schema_editor) -> None:
        self._editor = schema_editor

    def __getattr__(self, name):
        return getattr(self._editor, name)

    def add_index(self, model, index) -> None:
        drop_invalid_index(self._editor, index.name)
        self._editor.add_index(model, index, concurrently=True)

    def remove_index(self, model, index) -> None:
        self._editor.remove_index(model, index, concurrently=True)


def _online(schema_editor):
    return _Concurrently(schema_editor) if schema_editor.connection.vendor == "postgresql" else schema_editor


class AddIndexOnline(AddIndex):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        super().database_forwards(app_label, _online(schema_editor), from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        super().database_backwards(app_label, _online(schema_editor), from_state, to_state)


class RemoveIndexOnline(RemoveIndex):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        super().database_forwards(app_label, _online(schema_editor), from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        super().database_backwards(app_label, _online(schema_editor), from_state, to_state)
