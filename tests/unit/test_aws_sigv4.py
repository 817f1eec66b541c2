"""AWS Signature Version 4, against the example values AWS publishes (the signature test suite,
the IAM and S3 documentation examples)."""

from collections.abc import Mapping
from datetime import UTC, datetime

import httpx
import pytest

from tidings.aws_sigv4 import Credentials, Scope, SigV4Auth, canonical_path, sign, signing_key

SUITE = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
SUITE_TIME = datetime(2015, 8, 30, 12, 36, tzinfo=UTC)
S3_DOCS = Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
S3_TIME = datetime(2013, 5, 24, tzinfo=UTC)
EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def signature(headers: Mapping[str, str]) -> str:
    return headers["Authorization"].rsplit("Signature=", 1)[1]


def test_the_signing_key_of_the_documentation_example():
    key = signing_key(SUITE.secret_access_key, "20120215", "us-east-1", "iam")
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


def test_get_vanilla():
    headers = {"Host": "example.amazonaws.com"}
    added = sign(
        "GET",
        "https://example.amazonaws.com/",
        headers,
        b"",
        Scope(SUITE, "us-east-1", "service"),
        SUITE_TIME,
    )
    assert added["x-amz-date"] == "20150830T123600Z"
    assert added["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    )
    assert "x-amz-content-sha256" not in added


def test_query_parameters_are_sorted():
    url = "https://example.amazonaws.com/?Param2=value2&Param1=value1"
    added = sign(
        "GET",
        url,
        {"Host": "example.amazonaws.com"},
        b"",
        Scope(SUITE, "us-east-1", "service"),
        SUITE_TIME,
    )
    assert signature(added) == "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"


def test_the_iam_list_users_example():
    headers = {
        "Host": "iam.amazonaws.com",
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
    }
    url = "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08"
    added = sign("GET", url, headers, b"", Scope(SUITE, "us-east-1", "iam"), SUITE_TIME)
    assert signature(added) == "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    assert "SignedHeaders=content-type;host;x-amz-date," in added["Authorization"]


def test_the_s3_get_object_example():
    headers = {"Host": "examplebucket.s3.amazonaws.com", "Range": "bytes=0-9"}
    url = "https://examplebucket.s3.amazonaws.com/test.txt"
    added = sign("GET", url, headers, b"", Scope(S3_DOCS, "us-east-1", "s3"), S3_TIME)
    assert added["x-amz-content-sha256"] == EMPTY
    assert added["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )


def test_the_s3_put_object_example_with_a_reserved_character_in_the_key():
    headers = {
        "Host": "examplebucket.s3.amazonaws.com",
        "Date": "Fri, 24 May 2013 00:00:00 GMT",
        "x-amz-storage-class": "REDUCED_REDUNDANCY",
    }
    url = "https://examplebucket.s3.amazonaws.com/test%24file.text"
    body = b"Welcome to Amazon S3."
    added = sign("PUT", url, headers, body, Scope(S3_DOCS, "us-east-1", "s3"), S3_TIME)
    assert added["x-amz-content-sha256"] == (
        "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
    )
    assert signature(added) == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"


@pytest.mark.parametrize(
    ("path", "service", "expected"),
    [
        ("/example space/", "service", "/example%2520space/"),
        ("/example%20space/", "service", "/example%2520space/"),
        ("/./example", "service", "/example"),
        ("//example//", "service", "/example/"),
        ("/example1/example2/../..", "service", "/"),
        ("/bucket/a b/../c.txt", "s3", "/bucket/a%20b/../c.txt"),
        ("/bucket//key", "s3", "/bucket//key"),
        ("", "s3", "/"),
    ],
)
def test_canonical_paths(path, service, expected):
    assert canonical_path(path, service) == expected


def test_a_session_token_is_sent_and_signed():
    scope = Scope(
        Credentials("AKIDEXAMPLE", SUITE.secret_access_key, "token/1"), "us-east-1", "ses"
    )
    added = sign(
        "POST",
        "https://email.us-east-1.amazonaws.com/v2/email/outbound-emails",
        {"Host": "email.us-east-1.amazonaws.com"},
        b"{}",
        scope,
        SUITE_TIME,
    )
    assert added["x-amz-security-token"] == "token/1"
    assert "SignedHeaders=host;x-amz-date;x-amz-security-token," in added["Authorization"]


def test_the_httpx_auth_signs_the_request_as_sent():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    auth = SigV4Auth(Scope(SUITE, "us-east-1", "service"), now=SUITE_TIME.timestamp)
    with httpx.Client(transport=httpx.MockTransport(handler), auth=auth) as http:
        http.get("https://example.amazonaws.com/", headers={"User-Agent": "tidings-test"})
    (request,) = seen
    assert request.headers["x-amz-date"] == "20150830T123600Z"
    assert signature(request.headers) == (
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    )


def test_the_httpx_auth_signs_the_body_and_path_style_s3_urls():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    scope = Scope(S3_DOCS, "us-east-1", "s3")
    auth = SigV4Auth(scope, now=S3_TIME.timestamp)
    with httpx.Client(transport=httpx.MockTransport(handler), auth=auth) as http:
        http.put(
            "http://127.0.0.1:9000/bucket/a b.txt",
            content=b"hello",
            headers={"Content-Type": "text/plain"},
        )
    (request,) = seen
    assert request.url.raw_path == b"/bucket/a%20b.txt"
    expected = sign(
        "PUT",
        "http://127.0.0.1:9000/bucket/a%20b.txt",
        {"host": "127.0.0.1:9000", "content-type": "text/plain"},
        b"hello",
        scope,
        S3_TIME,
    )
    assert request.headers["Authorization"] == expected["Authorization"]
    assert (
        "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date,"
        in expected["Authorization"]
    )
