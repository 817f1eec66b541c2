"""Users of the web UI: accounts, roles per workspace, sessions, the login throttle."""
