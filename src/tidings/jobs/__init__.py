"""Background jobs, and the lease queue every worker claims from.

`lease` is the building block (claim, lease on the database's clock,
fencing, `RetryPolicy`, dead letter) that jobs, deliveries and webhook posts
share; `queue` holds the job table's operations (enqueue, claim, record the
outcome); `runner` runs claimed jobs through the handler registered for
their kind.
"""
