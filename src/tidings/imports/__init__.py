"""Bulk imports of people and events from CSV or JSON Lines files.

`reading` turns a file's bytes into numbered records, `rows` turns a record
into the same parsed request a Track call would make (using Track's own
parsers), `run` applies records in batches and counts what happened, and
`service` / `job` keep an import's state in the `imports` table and run it
as a background job. The CLI (`tidings import`) calls `run` directly.
"""
