"""The table of Customer.io routes not built yet: which feature each path names."""

import pytest

from tidings.api.unbuilt import feature_of


def segments(path):
    return path.split("/")[1:]


@pytest.mark.parametrize(
    ("path", "feature"),
    [
        ("/v1/customers/u1/subscription_preferences", "subscription preferences are"),
        ("/v1/subscription_topics", "subscription preferences are"),
        ("/v1/subscription_center/5/token", "subscription preferences are"),
    ],
)
def test_each_unbuilt_path_names_its_feature(path, feature):
    assert feature_of(segments(path)) == feature


@pytest.mark.parametrize(
    "path",
    [
        "/v1/campaign",  # a typo is not a feature
        "/v1/campaigns",  # served (api/campaigns.py)
        "/v1/newsletters",  # served (api/newsletters.py)
        "/v1/objects/1/acme/attributes",  # served (api/objects.py)
        "/v1/activities",  # served (api/app_api.py)
        "/v1/esp/suppression/bounces",  # served (api/esp.py)
        "/v1/assets/files/3",  # served (api/assets.py)
        "/v1/design_studio/emails/4",  # served (api/design_studio.py)
        "/v1/campaigns/7/nope",
        "/v1/segments/5/used_by",
        "/v1/sender_identities/5/used_by",  # served (api/templates.py)
        "/v1/transactional/4/messages",  # served (api/messages.py)
        "/v1/transactional/4/metrics/links",  # served (api/messages.py)
        "/v1/customers/u1/subscription_preferences/x",
        "/v1/customers//subscription_preferences",  # an empty id matches no placeholder
        "/v1/sendbroadcast",
        "/api/v1/campaigns",
    ],
)
def test_other_paths_name_no_feature(path):
    assert feature_of(segments(path)) is None
