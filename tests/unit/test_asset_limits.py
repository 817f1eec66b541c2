"""Asset uploads: the accepted types, the size limit, URL tokens, the multipart form."""

import pytest

from tidings.assets import limits, multipart
from tidings.assets.store import LocalStore
from tidings.errors import ApiError

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16
# Every byte value, and line ends of each kind: a form part's bytes are kept as sent.
BINARY = bytes(range(256)) * 4 + b"\r\n\n\r\r\n\r\n"


@pytest.mark.parametrize(
    ("declared", "filename", "kind"),
    [
        ("image/png", "x.bin", "image/png"),
        ("image/jpg", "x.jpg", "image/jpeg"),
        ("IMAGE/GIF; charset=binary", "x", "image/gif"),
        (None, "Report.PDF", "application/pdf"),
        ("application/octet-stream", "a.bmp", "image/bmp"),
    ],
)
def test_accepted_types_from_the_declared_type_or_the_extension(declared, filename, kind):
    assert limits.content_type(declared, filename) == kind


@pytest.mark.parametrize(
    ("declared", "filename"),
    [("text/html", "x.png"), ("image/svg+xml", "x.svg"), (None, "x.exe"), (None, "noext")],
)
def test_other_types_are_a_400_naming_the_accepted_ones(declared, filename):
    with pytest.raises(ApiError) as caught:
        limits.content_type(declared, filename)
    assert caught.value.status == 400
    assert "BMP, JPEG, PNG or GIF images, or PDF" in caught.value.message


def test_the_size_limit_is_a_413_and_counts_every_byte():
    limits.check_bytes("image/png", PNG, len(PNG))
    with pytest.raises(ApiError) as caught:
        limits.check_bytes("image/png", PNG + b"x", len(PNG))
    assert caught.value.status == 413
    assert str(len(PNG)) in caught.value.message


@pytest.mark.parametrize(("kind", "data"), [("image/png", b"<html>"), ("image/gif", b"")])
def test_bytes_must_be_the_declared_format(kind, data):
    with pytest.raises(ApiError) as caught:
        limits.check_bytes(kind, data, 1000)
    assert caught.value.status == 400


def test_tokens_are_long_url_safe_and_distinct():
    tokens = {limits.new_token() for _ in range(200)}
    assert len(tokens) == 200
    assert all(len(t) == 32 and t.replace("-", "").replace("_", "").isalnum() for t in tokens)


def form(*parts: bytes, boundary: str = "b0und") -> tuple[str, bytes]:
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + p + b"\r\n" for p in parts)
    return f"multipart/form-data; boundary={boundary}", body + f"--{boundary}--\r\n".encode()


def test_multipart_parts_keep_their_bytes_and_names():
    content_type, body = form(
        b'Content-Disposition: form-data; name="file"; filename="a.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + PNG + BINARY,
        b'Content-Disposition: form-data; name="name"\r\n\r\nLogo',
    )
    parts = multipart.parse(content_type, body)
    assert parts["file"].filename == "a.png"
    assert parts["file"].content_type == "image/png"
    assert parts["file"].data == PNG + BINARY
    assert parts["name"].data == b"Logo"


@pytest.mark.parametrize("content_type", [None, "application/json", "text/plain"])
def test_a_body_that_is_not_a_form_is_a_400(content_type):
    with pytest.raises(ApiError) as caught:
        multipart.parse(content_type, b"{}")
    assert caught.value.status == 400


def test_the_local_store_round_trips_and_refuses_paths(tmp_path):
    store = LocalStore(tmp_path / "assets")
    store.put("tok", PNG, "image/png")
    assert store.get("tok") == PNG
    assert [p.name for p in (tmp_path / "assets").iterdir()] == ["tok"]
    store.delete("tok")
    assert store.get("tok") is None
    store.delete("tok")  # deleting twice is fine
    for key in ("../x", "a/b", ".hidden", ""):
        with pytest.raises(ValueError):
            store.get(key)
