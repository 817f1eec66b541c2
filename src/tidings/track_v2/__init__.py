"""Track API v2 operations: parsing, applying one, applying a batch."""
