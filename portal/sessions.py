"""Django's database sessions (settings.SESSION_ENGINE), the same table, rows and expiry, read with one plain query.

Every page, poll and fragment reads its session first; building that SELECT through the ORM cost more CPU than
the database took to answer it. Writing, expiring and deleting sessions stay Django's.
"""

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.db import connections, router
from django.utils import timezone


class SessionStore(DatabaseSessionStore):
    def _get_session_from_db(self):
        """The unexpired row of this key as Django's `Session.objects.get(session_key=..., expire_date__gt=now)`
        finds it, or None, forgetting the key, as Django does."""
        model = self.model
        connection = connections[router.db_for_read(model)]
        ops = connection.ops
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {ops.quote_name('session_data')} FROM {ops.quote_name(model._meta.db_table)} "
                f"WHERE {ops.quote_name('session_key')} = %s AND {ops.quote_name('expire_date')} > %s",
                [self.session_key, ops.adapt_datetimefield_value(timezone.now())],
            )
            row = cursor.fetchone()
        if row is None:
            self._session_key = None
            return None
        return model(session_key=self.session_key, session_data=row[0])
