"""The optional replicated ingest log (NATS JetStream) in front of PostgreSQL.

With `--ingest-log`, the ingest endpoints validate a request, publish it as
`records.Record`s to a stream split into partitions by (workspace, identity),
and answer 2xx once the stream acknowledged every part (`publisher.py`).
`tidings worker` applies each partition in order (`applier.py`), through the
same use cases the direct path calls (`kinds.py`), advancing the partition's
stored offset in the transaction that applies (`partitions.py`). The design
and its reasons: docs/architecture.md, "The ingest log".
"""
