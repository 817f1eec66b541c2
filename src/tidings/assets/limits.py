"""What an asset upload may be: its type and its size, checked before anything is stored.

The accepted types are Customer.io's (customerio-node 5.x documents them): BMP,
JPEG, PNG and GIF images and PDF. A part's declared type must be one of them
(a part sent without a type, or as `application/octet-stream`, is typed from
its file name's extension), and the first bytes must be that format's
signature, so a file cannot be served under a type it is not (an HTML page
uploaded as `image/png` would otherwise run in visitors' browsers).
"""

from __future__ import annotations

import secrets

from tidings.errors import ApiError

# Room for the multipart framing and the form's other fields around the file.
FORM_OVERHEAD = 64 * 1024

TYPES = {
    "image/bmp": (b"BM",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "application/pdf": (b"%PDF-",),
}
ALIASES = {"image/jpg": "image/jpeg"}
EXTENSIONS = {
    "bmp": "image/bmp",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "pdf": "application/pdf",
}
ACCEPTED = "BMP, JPEG, PNG or GIF images, or PDF"


def content_type(declared: str | None, filename: str) -> str:
    """The type an upload is stored and served as; an unaccepted one is a 400."""
    kind = (declared or "").split(";")[0].strip().lower()
    if kind in ("", "application/octet-stream"):
        dot = filename.rfind(".")
        kind = EXTENSIONS.get(filename[dot + 1 :].lower(), kind) if dot >= 0 else kind
    kind = ALIASES.get(kind, kind)
    if kind not in TYPES:
        shown = kind or "no type"
        raise ApiError(
            400, f"file type {shown[:100]} is not accepted: upload {ACCEPTED}", field="file"
        )
    return kind


def check_bytes(kind: str, data: bytes, max_bytes: int) -> None:
    """A 413 past `max_bytes`; a 400 for an empty file or bytes that are not `kind`."""
    if len(data) > max_bytes:
        raise too_large(max_bytes)
    if not data:
        raise ApiError(400, "the file is empty", field="file")
    if not data.startswith(TYPES[kind]):
        raise ApiError(400, f"the file's contents are not {kind}", field="file")


def too_large(max_bytes: int) -> ApiError:
    return ApiError(
        413, f"the file is larger than the limit of {max_bytes} bytes", code="too_large"
    )


def new_token() -> str:
    """The random part of an asset's public URL: 192 bits, URL-safe."""
    return secrets.token_urlsafe(24)
