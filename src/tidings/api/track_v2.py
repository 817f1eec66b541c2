def register(router, app):  # type: ignore[no-untyped-def]
    pass
