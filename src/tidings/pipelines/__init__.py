"""The Pipelines (CDP, Segment-compatible) API: messages in, people, events and objects out.

`parse` validates messages (pure), `service` applies one message, `ingest`
applies a request's messages in order inside the caller's transaction (runs
of plain events through `bulk`), `rejections` keeps what was refused.
"""
