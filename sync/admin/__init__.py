"""The admin's side: resolving conflicts, admin edits, merging customers, undo, history.

* ``core``: the unit of work every admin action runs in (actor, audit, agents' bases).
* ``resolve``: the Resolution words and what each does to each kind of conflict.
* ``merge``: merging one customer into another, and undoing it from the audit log.
* ``master``: what the admin typed in the master workbook, applied at a cycle's start.
* ``identity``: which customer a phone or Customer # means once customers were merged.
* ``commands``: the CLI's admin commands as plain functions.

Nothing here imports ``sync.cycle`` or ``sync.ingest`` (ingest imports ``identity``).
"""
