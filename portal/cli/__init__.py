"""`manage.py backup ...`: the portal's operations from a shell, for operators and scripts.

`output` prints tables or JSON; `resolve` turns command-line names into rows the user may see
(tenancy applies: the CLI acts as a user); `vaults`, `quick_start`, `items`, `jobs`, `maintenance`, `hosts`,
`policy`, `approvals` and `safeguards` hold one function per subcommand, each calling the
same services as the portal and the API.
"""
