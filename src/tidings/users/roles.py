"""Roles per workspace and what each may do (pure): Customer.io's and Dittofeed's shape.

- viewer: reads everything in the workspace, changes nothing;
- author: also edits content (templates, segments, campaigns);
- admin: also manages the workspace (users and their roles, API keys, settings).

Every unsafe UI route names the capability it needs (`ui/site.py` refuses the
request with 403 before its handler runs), so the server enforces the role
whatever the page showed.
"""

from __future__ import annotations

from typing import Literal

Role = Literal["admin", "author", "viewer"]
Capability = Literal["read", "edit_content", "manage"]

ROLES: tuple[Role, ...] = ("admin", "author", "viewer")

_GRANTS: dict[Role, frozenset[Capability]] = {
    "viewer": frozenset({"read"}),
    "author": frozenset({"read", "edit_content"}),
    "admin": frozenset({"read", "edit_content", "manage"}),
}


def parse_role(value: str) -> Role:
    """`value` as a role; ValueError naming the roles otherwise."""
    for role in ROLES:
        if value == role:
            return role
    raise ValueError(f"role must be one of: {', '.join(ROLES)}")


def may(role: str | None, capability: Capability) -> bool:
    """Whether `role` (None: no role in the workspace) grants `capability`."""
    if role is None or role not in _GRANTS:
        return False
    return capability in _GRANTS[role]  # type: ignore[index]
