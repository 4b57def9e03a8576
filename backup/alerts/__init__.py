"""Alerts: the portal tells its users when backups fail or quietly stop happening, and when data is deleted.

The app observes the apps below it (jobs end through `backup.jobs.signals.job_finished`, policies and points
through their model signals) and never the other way round. An alert is one incident per cause and item
(`Alert.kind` + `item_key`): a repeated failure raises its count and last-seen time, and the cause going away
(the next good backup, the next recovery point) resolves it. Security kinds cannot be switched off: every rule
of the subscription delivers them, whatever its filters say.

Delivery is a table, not a fire-and-forget message: raising an alert writes one `Delivery` row per target
(its idempotency key unique), a Celery task sends it at once, and the `deliver-due-alerts` beat task sends
whatever is due (retries with backoff, and rows whose message died with the broker). A row is claimed with a
conditional UPDATE, so two workers never send it both; the key travels with the message (webhook header,
e-mail Message-ID) so a receiver can drop the rare resend of a worker killed mid-send.
"""
