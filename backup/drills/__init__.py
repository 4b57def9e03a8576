"""Restore drills: proof that what was backed up can be restored.

A plan per vault says which items (all, or chosen ones), which point (the newest, or a random one of the last N
days), where to restore (a sandbox storage account) and how often. A drill is a Restore Drill job: it restores each
item's point as disks into the sandbox under names made of ids only (`drill-<job>-<point>-<disk>.vhd`), proves every
restored disk byte-exact (each chunk's hash equals the manifest's, each hole reads as zeros), records the result
and the restore's duration (the measured RTO), and removes what it made: in a `finally`, and again in the job's
clean-up, which the runner calls however the job ended (a killed worker included). A failed drill raises an alert.
Boot checks of KVM machines in a sandbox pool are not part of it yet.
"""
