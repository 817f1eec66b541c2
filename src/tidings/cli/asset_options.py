"""`tidings serve`'s options for assets: where files are kept and how large they may be."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from tidings.config import Settings

OPTIONS = (
    click.option(
        "--asset-dir",
        envvar="TIDINGS_ASSET_DIR",
        show_envvar=True,
        default="",
        help="Folder uploaded assets are kept in (default: assets/ in --data-dir), "
        "unless --asset-s3-bucket is set.",
    ),
    click.option(
        "--asset-max-bytes",
        envvar="TIDINGS_ASSET_MAX_BYTES",
        show_envvar=True,
        type=click.IntRange(1, 1 << 30),
        default=Settings.asset_max_bytes,
        show_default=True,
        help="Largest asset file accepted; larger uploads are answered 413.",
    ),
    click.option(
        "--asset-s3-bucket",
        envvar="TIDINGS_ASSET_S3_BUCKET",
        show_envvar=True,
        default="",
        help="Keep assets in this S3-compatible bucket instead of a folder.",
    ),
    click.option(
        "--asset-s3-endpoint",
        envvar="TIDINGS_ASSET_S3_ENDPOINT",
        show_envvar=True,
        default="",
        help="The bucket's server, addressed path-style (default: AWS S3), e.g. http://minio:9000.",
    ),
    click.option(
        "--asset-s3-region",
        envvar="TIDINGS_ASSET_S3_REGION",
        show_envvar=True,
        default=Settings.asset_s3_region,
        show_default=True,
        help="The region requests to the bucket are signed for.",
    ),
    click.option(
        "--asset-s3-access-key",
        envvar="TIDINGS_ASSET_S3_ACCESS_KEY",
        show_envvar=True,
        default="",
        help="Access key id for the bucket.",
    ),
    click.option(
        "--asset-s3-secret-key",
        envvar="TIDINGS_ASSET_S3_SECRET_KEY",
        show_envvar=True,
        default="",
        help="Secret access key for the bucket (prefer the environment variable).",
    ),
)


def asset_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(OPTIONS):
        fn = option(fn)
    return fn


def asset_settings(data_dir: str, options: dict[str, Any]) -> dict[str, Any]:
    """The `Settings` fields the asset options give (the folder defaulting to the data
    folder's `assets/`); a bucket without both keys is a usage error."""
    if options["asset_s3_bucket"] and not (
        options["asset_s3_access_key"] and options["asset_s3_secret_key"]
    ):
        raise click.UsageError("--asset-s3-bucket needs --asset-s3-access-key and -secret-key")
    folder = options["asset_dir"] or str(Path(data_dir) / "assets")
    return {**options, "asset_dir": folder}
