"""The asset store on an S3-compatible bucket: moto's S3 server on loopback, spoken to
with path-style URLs and Signature V4, on its own and behind the App API."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from moto import settings as moto_settings
from moto.server import ThreadedMotoServer

from tests.integration.test_campaign_api import Client, serving
from tidings.assets.store import S3Store
from tidings.aws_sigv4 import Credentials as Keys
from tidings.config import Settings
from tidings.errors import ApiError

BUCKET = "tidings-assets"
KEYS = Keys("unset", "unset")  # the IAM user's key, once the `s3` fixture made it
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    """moto's server, checking every request's signature against an IAM user's key
    (allowed S3 only) once that user exists: a wrongly signed request is refused."""
    global KEYS
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    # moto keeps its accounts per process: start from none (another run of this
    # module, for the other store, made the same user and bucket).
    httpx.post(endpoint + "/moto-api/reset").raise_for_status()
    iam = client_of("iam", endpoint, Keys("setup", "setup"))
    iam.create_user(UserName="tidings")
    allow_s3 = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    iam.put_user_policy(UserName="tidings", PolicyName="s3", PolicyDocument=json.dumps(allow_s3))
    key = iam.create_access_key(UserName="tidings")["AccessKey"]
    KEYS = Keys(key["AccessKeyId"], key["SecretAccessKey"])
    saved = moto_settings.INITIAL_NO_AUTH_ACTION_COUNT
    moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    try:
        bucket(endpoint).create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = saved
        httpx.post(endpoint + "/moto-api/reset")
        server.stop()


def client_of(service: str, endpoint: str, keys: Keys) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key,
    )


def bucket(endpoint: str) -> Any:
    return client_of("s3", endpoint, KEYS)


@pytest.fixture
def objects(s3: str) -> Any:
    return bucket(s3)


def test_put_get_delete_round_trip(s3, objects):
    store = S3Store(s3, BUCKET, "us-east-1", KEYS)
    store.put("tok-1", PNG, "image/png")
    stored = objects.get_object(Bucket=BUCKET, Key="tok-1")
    assert stored["Body"].read() == PNG and stored["ContentType"] == "image/png"
    assert store.get("tok-1") == PNG
    store.delete("tok-1")
    assert store.get("tok-1") is None
    store.delete("tok-1")  # already gone: fine


def test_a_wrong_secret_is_refused_by_the_bucket(s3):
    wrong = Keys(KEYS.access_key_id, KEYS.secret_access_key[:-1] + "x")
    with pytest.raises(ApiError) as caught:
        S3Store(s3, BUCKET, "us-east-1", wrong).put("t", PNG, "image/png")
    assert caught.value.status == 502 and "HTTP 403" in caught.value.message


def test_a_missing_bucket_or_server_is_a_502(s3):
    with pytest.raises(ApiError) as caught:
        S3Store(s3, "no-such-bucket", "us-east-1", KEYS).put("t", PNG, "image/png")
    assert caught.value.status == 502
    with pytest.raises(ApiError) as caught:
        S3Store(f"http://127.0.0.1:{_free_port()}", BUCKET, "us-east-1", KEYS).get("t")
    assert caught.value.status == 502


@pytest.fixture(scope="module")
def client(database_url: str, db: Any, s3: str) -> Iterator[Client]:
    settings = Settings(
        database_url=database_url,
        background_workers=False,
        asset_s3_bucket=BUCKET,
        asset_s3_endpoint=s3,
        asset_s3_access_key=KEYS.access_key_id,
        asset_s3_secret_key=KEYS.secret_access_key,
    )
    yield from serving(settings)


def test_uploads_land_in_the_bucket_and_are_served_from_it(client, workspace, objects):
    files = {"file": ("logo.png", PNG, "image/png")}
    response = client.call(workspace, "POST", "/v1/assets/files", files=files)
    assert response.status_code == 200, response.text
    asset = response.json()["asset"]
    token = asset["url"].split("/assets/")[1].split("/")[0]
    assert objects.get_object(Bucket=BUCKET, Key=token)["Body"].read() == PNG
    served = client.call(workspace, "GET", httpx.URL(asset["url"]).path)
    assert served.status_code == 200 and served.content == PNG
    assert served.headers["content-type"] == "image/png"
    deleted = client.call(workspace, "DELETE", f"/v1/assets/files/{asset['id']}")
    assert deleted.status_code == 204
    assert "Contents" not in objects.list_objects_v2(Bucket=BUCKET, Prefix=token)
