"""`tidings serve`'s asset options become settings: the folder defaults into the data folder."""

import click
import pytest

from tidings.cli.asset_options import asset_settings
from tidings.config import Settings

NONE = {
    "asset_dir": "",
    "asset_max_bytes": 1000,
    "asset_s3_bucket": "",
    "asset_s3_endpoint": "",
    "asset_s3_region": "us-east-1",
    "asset_s3_access_key": "",
    "asset_s3_secret_key": "",
}


def test_the_folder_defaults_to_assets_in_the_data_folder():
    made = asset_settings("/srv/tidings", NONE)
    assert made["asset_dir"] == "/srv/tidings/assets"
    assert Settings(database_url="sqlite://", **made).asset_max_bytes == 1000
    assert asset_settings("/srv", {**NONE, "asset_dir": "/files"})["asset_dir"] == "/files"


def test_a_bucket_needs_both_keys():
    with pytest.raises(click.UsageError):
        asset_settings("/srv", {**NONE, "asset_s3_bucket": "b", "asset_s3_access_key": "k"})
    both = {**NONE, "asset_s3_bucket": "b", "asset_s3_access_key": "k", "asset_s3_secret_key": "s"}
    assert asset_settings("/srv", both)["asset_s3_bucket"] == "b"
