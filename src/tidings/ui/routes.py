"""Every UI route and what it needs (`ui/site.py` enforces it before the handler runs)."""

from __future__ import annotations

from tidings.ui import (
    account,
    activity,
    audit_log,
    broadcasts,
    campaigns,
    dashboard,
    deliveries,
    jobs,
    members,
    newsletters,
    people,
    person,
    segment_delete,
    segments,
    settings_changes,
    settings_providers,
    sign_in,
    suppressions,
    template_changes,
    template_pieces,
)
from tidings.ui import message_templates as templates
from tidings.ui import settings as workspace_settings
from tidings.ui.site import UiRoute

ROUTES: tuple[UiRoute, ...] = (
    UiRoute("GET", "/", dashboard.dashboard, "read"),  # the dashboard (issue 17, page 7)
    UiRoute("GET", "/login", sign_in.login_form, "public"),
    UiRoute("POST", "/login", sign_in.log_in, "public"),
    UiRoute("POST", "/logout", sign_in.log_out, "signed_in"),
    UiRoute("POST", "/workspace", sign_in.switch_workspace, "signed_in"),
    UiRoute("GET", "/people", people.people, "read"),
    UiRoute("GET", "/people/{cio_id}", person.person, "read"),
    UiRoute("GET", "/users", members.members, "manage"),
    UiRoute("POST", "/users/{user_id}/role", members.change_role, "manage"),
    # Users, the account page and the audit log (issue 17, page 8)
    UiRoute("POST", "/users/add", members.add_user, "manage"),
    UiRoute("POST", "/users/{user_id}/remove", members.remove, "manage"),
    UiRoute("POST", "/users/{user_id}/password", members.reset_password, "manage"),
    UiRoute("GET", "/account", account.account, "signed_in"),
    UiRoute("POST", "/account/password", account.change_password, "signed_in"),
    UiRoute("GET", "/audit", audit_log.audit_page, "manage"),
    UiRoute("GET", "/audit/export.csv", audit_log.export, "manage"),
    # Activity log and deliveries (issue 17, pages 2 and 3)
    UiRoute("GET", "/activity", activity.activity, "read"),
    UiRoute("GET", "/activity/rejections", activity.rejected, "read"),
    UiRoute("GET", "/activity/refusals", activity.refused, "read"),
    UiRoute("GET", "/deliveries", deliveries.deliveries, "read"),
    UiRoute("GET", "/deliveries/{delivery_id}", deliveries.delivery, "read"),
    UiRoute("GET", "/deliveries/{delivery_id}/html", deliveries.html_body, "read"),
    # Templates (`ui/message_templates.py`, `template_pieces.py`, `template_changes.py`);
    # a preview is a POST that changes nothing.
    UiRoute("GET", "/templates", templates.index, "read"),
    UiRoute("POST", "/templates", template_changes.create_message, "edit_content"),
    UiRoute("GET", "/templates/{message_id}", templates.message, "read"),
    UiRoute("POST", "/templates/{message_id}", templates.save_message, "edit_content"),
    UiRoute(
        "POST", "/templates/{message_id}/preview", templates.preview_draft, "read", reads_only=True
    ),
    UiRoute("POST", "/templates/{message_id}/test", templates.send_test, "edit_content"),
    UiRoute(
        "POST", "/templates/{message_id}/delete", template_changes.delete_message, "edit_content"
    ),
    UiRoute("POST", "/snippets", template_changes.create_snippet, "edit_content"),
    UiRoute("GET", "/snippets/{name}", template_pieces.snippet, "read"),
    UiRoute("POST", "/snippets/{name}", template_pieces.save_snippet, "edit_content"),
    UiRoute(
        "POST", "/snippets/{name}/preview", template_pieces.preview_snippet, "read", reads_only=True
    ),
    UiRoute("POST", "/snippets/{name}/delete", template_changes.delete_snippet, "edit_content"),
    UiRoute("POST", "/layouts", template_changes.create_layout, "edit_content"),
    UiRoute("GET", "/layouts/{name}", template_pieces.layout, "read"),
    UiRoute("POST", "/layouts/{name}", template_pieces.save_layout, "edit_content"),
    UiRoute(
        "POST", "/layouts/{name}/preview", template_pieces.preview_layout, "read", reads_only=True
    ),
    UiRoute("POST", "/layouts/{name}/delete", template_changes.delete_layout, "edit_content"),
    # Segments ("new", "count" and "manual" before the `{segment_id}` routes).
    UiRoute("GET", "/segments", segments.segment_list, "read"),
    UiRoute("GET", "/segments/new", segments.new_form, "edit_content"),
    UiRoute("POST", "/segments/new", segments.create_post, "edit_content"),
    UiRoute("POST", "/segments/count", segments.count, "edit_content"),
    UiRoute("POST", "/segments/manual", segments.create_manual, "edit_content"),
    UiRoute("GET", "/segments/{segment_id}", segments.segment_page, "read"),
    UiRoute("GET", "/segments/{segment_id}/edit", segments.edit_form, "edit_content"),
    UiRoute("POST", "/segments/{segment_id}/edit", segments.edit_post, "edit_content"),
    UiRoute("GET", "/segments/{segment_id}/delete", segment_delete.confirm, "edit_content"),
    UiRoute("POST", "/segments/{segment_id}/delete", segment_delete.delete, "edit_content"),
    UiRoute("POST", "/segments/{segment_id}/members", segments.add_members, "edit_content"),
    UiRoute(
        "POST", "/segments/{segment_id}/members/remove", segments.remove_members, "edit_content"
    ),
    # Campaigns, broadcasts and newsletters (`ui/campaigns.py`, `ui/broadcasts.py`,
    # `ui/newsletters.py`); a broadcast's audience preview is a POST that changes nothing.
    UiRoute("GET", "/campaigns", campaigns.campaign_list, "read"),
    UiRoute("GET", "/campaigns/{campaign_id}", campaigns.campaign_page, "read"),
    UiRoute("POST", "/campaigns/{campaign_id}/start", campaigns.start, "edit_content"),
    UiRoute("POST", "/campaigns/{campaign_id}/stop", campaigns.stop, "edit_content"),
    UiRoute("GET", "/broadcasts", broadcasts.broadcast_list, "read"),
    UiRoute("GET", "/broadcasts/{broadcast_id}", broadcasts.broadcast_page, "read"),
    UiRoute("POST", "/broadcasts/{broadcast_id}/preview", broadcasts.preview, "edit_content"),
    UiRoute("POST", "/broadcasts/{broadcast_id}/trigger", broadcasts.trigger, "edit_content"),
    UiRoute("GET", "/newsletters", newsletters.newsletter_list, "read"),
    UiRoute("GET", "/newsletters/{newsletter_id}", newsletters.newsletter_page, "read"),
    UiRoute("POST", "/newsletters/{newsletter_id}/send", newsletters.send_now, "edit_content"),
    UiRoute("POST", "/newsletters/{newsletter_id}/schedule", newsletters.schedule, "edit_content"),
    UiRoute(
        "POST", "/newsletters/{newsletter_id}/deschedule", newsletters.deschedule, "edit_content"
    ),
    # Jobs, settings (keys: admins only) and suppressions (issue 17, page 8)
    UiRoute("GET", "/jobs", jobs.jobs, "read"),
    UiRoute("GET", "/jobs/{job_id}", jobs.job, "read"),
    UiRoute("GET", "/settings", workspace_settings.settings, "read"),
    UiRoute("POST", "/settings/keys/{kind}/rotate", workspace_settings.rotate, "manage"),
    # Changing settings (`ui/settings_providers.py`, `ui/settings_changes.py`): admins only.
    UiRoute("POST", "/settings/workspaces", settings_changes.create_workspace, "manage"),
    UiRoute("POST", "/settings/providers", settings_providers.create, "manage"),
    UiRoute("GET", "/settings/providers/{channel}", settings_providers.provider, "manage"),
    UiRoute("POST", "/settings/providers/{channel}", settings_providers.save, "manage"),
    UiRoute("POST", "/settings/providers/{channel}/delete", settings_providers.delete, "manage"),
    UiRoute("POST", "/settings/senders", settings_changes.create_sender, "manage"),
    UiRoute("GET", "/settings/senders/{sender_id}", settings_changes.sender, "manage"),
    UiRoute("POST", "/settings/senders/{sender_id}", settings_changes.save_sender, "manage"),
    UiRoute(
        "POST", "/settings/senders/{sender_id}/delete", settings_changes.delete_sender, "manage"
    ),
    UiRoute("POST", "/settings/webhooks", settings_changes.create_webhook, "manage"),
    UiRoute("GET", "/settings/webhooks/{webhook_id}", settings_changes.webhook, "manage"),
    UiRoute("POST", "/settings/webhooks/{webhook_id}", settings_changes.save_webhook, "manage"),
    UiRoute(
        "POST", "/settings/webhooks/{webhook_id}/delete", settings_changes.delete_webhook, "manage"
    ),
    UiRoute("GET", "/suppressions", suppressions.suppressions, "read"),
    UiRoute("POST", "/suppressions/remove", suppressions.unsuppress, "edit_content"),
    UiRoute("POST", "/suppressions/unblock", suppressions.unblock, "edit_content"),
)
