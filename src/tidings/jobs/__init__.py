"""Background jobs: work that runs after the transaction that asked for it.

`queue` holds the table operations (enqueue, claim with a lease, record the
outcome); `worker` runs claimed jobs through the handler registered for
their kind.
"""
