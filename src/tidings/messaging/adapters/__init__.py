"""Provider adapters, one per file; `tidings.messaging.providers` picks one per channel."""
