"""Provider adapters, one per file; `tidings.providers.adapters` picks one per channel."""
