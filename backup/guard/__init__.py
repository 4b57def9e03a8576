"""Multi-user authorization: a resource guard, owned by a security role that is not among the subscription's
own members, makes critical operations need a request approved by one of that role's members.

- A ResourceGuard belongs to a subscription and names its security group (a Django auth group) and the
  operations it protects (every critical one by default).
- An operation it protects calls `guard.require_approval(user, subscription, operation, target, ...)` before
  it runs. Without an approved request it records a pending ApprovalRequest and refuses with its id; a
  member of the group approves it with a reason (never their own request); the approval is good for one run
  of that operation on that target, by that requester, within GUARD_APPROVAL_LIFETIME_S (default 1 hour).
  The next call (with the request id, or without it from the portal and the admin) uses it up.
- Every request, decision and guarded run is an AuditEvent; the admin shows them read-only to everyone.
- The portal's dialogs ask first (backup.jobs.asking): refused without an approval, they record no request
  until the user asks with a reason (REQUEST APPROVAL); the security role decides on the SECURITY page.

The guard sits below the vms app (its services call it) and above vaults and tenancy; tenancy's token
revocation reaches it through the `token_revoking` signal it sends.
"""
