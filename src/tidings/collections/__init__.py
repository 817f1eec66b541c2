"""Collections: named arrays of rows for messages (Customer.io's /v1/collections)."""
