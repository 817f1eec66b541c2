"""Every UI route and what it needs (`ui/site.py` enforces it before the handler runs)."""

from __future__ import annotations

from tidings.ui import members, people, segments, sign_in
from tidings.ui.site import UiRoute

ROUTES: tuple[UiRoute, ...] = (
    UiRoute("GET", "/", sign_in.home, "signed_in"),
    UiRoute("GET", "/login", sign_in.login_form, "public"),
    UiRoute("POST", "/login", sign_in.log_in, "public"),
    UiRoute("POST", "/logout", sign_in.log_out, "signed_in"),
    UiRoute("POST", "/workspace", sign_in.switch_workspace, "signed_in"),
    UiRoute("GET", "/people", people.people, "read"),
    UiRoute("GET", "/users", members.members, "manage"),
    UiRoute("POST", "/users/{user_id}/role", members.change_role, "manage"),
    # Segments ("new", "count" and "manual" before the `{segment_id}` routes).
    UiRoute("GET", "/segments", segments.segment_list, "read"),
    UiRoute("GET", "/segments/new", segments.new_form, "edit_content"),
    UiRoute("POST", "/segments/new", segments.create_post, "edit_content"),
    UiRoute("POST", "/segments/count", segments.count, "edit_content"),
    UiRoute("POST", "/segments/manual", segments.create_manual, "edit_content"),
    UiRoute("GET", "/segments/{segment_id}", segments.segment_page, "read"),
    UiRoute("GET", "/segments/{segment_id}/edit", segments.edit_form, "edit_content"),
    UiRoute("POST", "/segments/{segment_id}/edit", segments.edit_post, "edit_content"),
    UiRoute("POST", "/segments/{segment_id}/members", segments.add_members, "edit_content"),
    UiRoute(
        "POST", "/segments/{segment_id}/members/remove", segments.remove_members, "edit_content"
    ),
)
