"""The Pipelines (CDP, Segment-compatible) API: messages in, people, events and objects out.

`rules` holds each message rule once (pure); `parse` reads any message with
them and `fast` a batch of plain events; `service` applies one message,
`bulk` logs runs of them (a single message is a run of one), `ingest`
applies a request's messages in order inside the caller's transaction, and
`rejections` keeps what was refused.
"""
