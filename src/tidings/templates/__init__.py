"""Workspace resources for messages: transactional templates, snippets, sender
identities and layouts. Managed through the App API and `tidings apply`; read by
the send pipeline (`messages.resolve`, `messages.content_fields`, ...)."""
