"""Roles: what each grants, and unsafe UI routes that must name more than reading."""

import pytest

from tidings.ui.routes import ROUTES
from tidings.ui.security import UNSAFE
from tidings.ui.site import UiRoute
from tidings.users.roles import ROLES, may, parse_role

GRANTED = {
    ("viewer", "read"): True,
    ("viewer", "edit_content"): False,
    ("viewer", "manage"): False,
    ("author", "read"): True,
    ("author", "edit_content"): True,
    ("author", "manage"): False,
    ("admin", "read"): True,
    ("admin", "edit_content"): True,
    ("admin", "manage"): True,
}


@pytest.mark.parametrize(("role", "capability"), list(GRANTED))
def test_what_each_role_may_do(role, capability):
    assert may(role, capability) is GRANTED[(role, capability)]


@pytest.mark.parametrize("role", [None, "", "owner", "Admin"])
def test_no_role_or_an_unknown_one_grants_nothing(role):
    assert not any(may(role, capability) for capability in ("read", "edit_content", "manage"))


def test_parse_role():
    assert [parse_role(role) for role in ROLES] == ["admin", "author", "viewer"]
    with pytest.raises(ValueError, match="admin, author, viewer"):
        parse_role("owner")


async def _handler(ui, request):  # never called
    raise AssertionError


def test_an_unsafe_route_cannot_need_only_read():
    with pytest.raises(ValueError, match="needs more than read"):
        UiRoute("POST", "/x", _handler, "read")


def test_every_unsafe_route_that_changes_workspace_data_needs_a_role():
    """Only signing in and out, switching workspace (the switch checks the target
    workspace itself) and changing one's own password are open to any role; anything
    else unsafe names a capability."""
    open_to_all = {
        (route.method, route.path)
        for route in ROUTES
        if route.method in UNSAFE and route.needs in ("public", "signed_in")
    }
    assert open_to_all == {
        ("POST", "/login"),
        ("POST", "/logout"),
        ("POST", "/workspace"),
        ("POST", "/account/password"),
    }


def test_only_previews_are_unsafe_requests_that_read():
    """A POST open to "read" must change nothing: the only ones are the previews of a
    message, a snippet and a layout."""
    reading = {(r.method, r.path) for r in ROUTES if r.method in UNSAFE and r.needs == "read"}
    assert reading == {
        ("POST", "/templates/{message_id}/preview"),
        ("POST", "/snippets/{name}/preview"),
        ("POST", "/layouts/{name}/preview"),
    }
