"""Where asset bytes live: a folder (the data folder's `assets/` by default) or an
S3-compatible bucket (path-style URLs, requests signed with AWS Signature V4).

Keys are the assets' random tokens, so the store never sees a user-chosen
name. Calls block (file or network I/O): the API runs them on a thread.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from tidings.config import Settings
from tidings.errors import ApiError

if TYPE_CHECKING:  # httpx and the signer are imported only when a bucket is used
    import httpx

    from tidings.aws_sigv4 import Credentials


class AssetStore(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...
    def get(self, key: str) -> bytes | None: ...
    def delete(self, key: str) -> None: ...


class LocalStore:
    """Files in one folder, each written to a temporary name and renamed into place."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=self.folder, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(temporary, self._path(key))
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def _path(self, key: str) -> Path:
        if not key or "/" in key or key.startswith("."):
            raise ValueError(f"not an asset key: {key!r}")
        return self.folder / key


class S3Store:
    """PutObject, GetObject and DeleteObject on `{endpoint}/{bucket}/{key}`."""

    def __init__(
        self,
        endpoint: str,
        bucket: str,
        region: str,
        credentials: Credentials,
        *,
        timeout: float = 30.0,
    ) -> None:
        import httpx

        from tidings.aws_sigv4 import Scope, SigV4Auth

        self.base = f"{endpoint.rstrip('/')}/{quote(bucket, safe='')}"
        auth = SigV4Auth(Scope(credentials, region, "s3"))
        self.client = httpx.Client(auth=auth, timeout=timeout)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        headers = {"content-type": content_type}
        _check(self._call("PUT", key, "store", content=data, headers=headers), "store")

    def get(self, key: str) -> bytes | None:
        response = self._call("GET", key, "read")
        if response.status_code == 404:
            return None
        _check(response, "read")
        return response.content

    def delete(self, key: str) -> None:
        response = self._call("DELETE", key, "delete")
        if response.status_code != 404:
            _check(response, "delete")

    def _call(self, method: str, key: str, what: str, **options: Any) -> httpx.Response:
        import httpx

        try:
            return self.client.request(method, self._url(key), **options)
        except httpx.HTTPError as exc:
            raise _failed(what, type(exc).__name__) from exc

    def _url(self, key: str) -> str:
        return f"{self.base}/{quote(key, safe='')}"


def _check(response: httpx.Response, what: str) -> None:
    if response.status_code >= 300:
        raise _failed(what, f"HTTP {response.status_code}")


def _failed(what: str, why: str) -> ApiError:
    return ApiError(
        502, f"the asset bucket could not {what} the file ({why})", code="storage_failed"
    )


def from_settings(settings: Settings) -> AssetStore:
    """The store `settings` configure: the bucket when one is named, else the folder."""
    if settings.asset_s3_bucket:
        from tidings.aws_sigv4 import Credentials

        credentials = Credentials(settings.asset_s3_access_key, settings.asset_s3_secret_key)
        return S3Store(
            settings.asset_s3_endpoint or "https://s3.amazonaws.com",
            settings.asset_s3_bucket,
            settings.asset_s3_region,
            credentials,
        )
    return LocalStore(Path(settings.asset_dir or "./tidings-data/assets"))
