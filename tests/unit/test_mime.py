"""mime.build parsed back with the `email` package, and the HTML-to-text fallback."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidings.providers import mime, text
from tidings.providers.base import Attachment, Email
from tidings.providers.text import html_to_text

WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def email(**fields: Any) -> Email:
    base: dict[str, Any] = {
        "message_id": "<d1.abc@mail.tidings.test>",
        "from_": "Shop <shop@example.com>",
        "to": ["Ann <ann@example.com>"],
        "subject": "Your order",
        "html": "<html><body><p>Thanks, <b>Ann</b>!</p></body></html>",
    }
    return Email(**{**base, **fields})


def parse(data: bytes) -> EmailMessage:
    """The message as a receiver reads it (line endings normalised to LF)."""
    parsed = message_from_bytes(data.replace(b"\r\n", b"\n"), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def structure(msg: EmailMessage) -> list[str]:
    return [part.get_content_type() for part in msg.walk()]


def test_html_with_derived_text_and_fixed_headers() -> None:
    data = mime.build("d1", email(reply_to="Help <help@example.com>"), date=WHEN)
    msg = parse(data)
    assert structure(msg) == ["multipart/alternative", "text/plain", "text/html"]
    assert msg["Message-ID"] == "<d1.abc@mail.tidings.test>"
    assert msg["Date"] == "Wed, 01 May 2024 12:00:00 +0000"
    assert (msg["From"], msg["To"], msg["Reply-To"]) == (
        "Shop <shop@example.com>",
        "Ann <ann@example.com>",
        "Help <help@example.com>",
    )
    plain, html = (part.get_content() for part in msg.iter_parts())
    assert plain == "Thanks, Ann!\n" and "<b>Ann</b>" in html
    assert b"\n" not in data.replace(b"\r\n", b"")  # CRLF line endings only


def test_the_same_delivery_builds_the_same_message_id_and_body() -> None:
    first = mime.build("d1", email(), date=WHEN)
    again = mime.build("d1", email(), date=WHEN)
    assert parse(first)["Message-ID"] == parse(again)["Message-ID"]
    assert (
        parse(first).get_body(("html",)).get_content()
        == parse(again).get_body(("html",)).get_content()
    )


def test_a_missing_message_id_is_derived_from_the_delivery() -> None:
    msg = parse(mime.build("d42", email(message_id=""), domain="mail.example.net"))
    assert msg["Message-ID"] == "<d42@mail.example.net>"
    assert parse(mime.build("d42", email(message_id="")))["Message-ID"] == "<d42@example.com>"


def test_given_text_amp_and_attachments() -> None:
    pdf = Attachment("invoice.pdf", "", base64.b64encode(b"%PDF-1.4 fake").decode())
    csv = Attachment("rows.csv", "text/csv", base64.b64encode(b"a,b\n1,2\n").decode())
    given = email(text="Thanks, Ann!", amp="<html amp4email>amp</html>", attachments=[pdf, csv])
    msg = parse(mime.build("d1", given))
    assert structure(msg) == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/x-amp-html",
        "text/html",
        "application/pdf",
        "text/csv",
    ]
    assert msg.get_body(("plain",)).get_content() == "Thanks, Ann!\n"
    files = {a.get_filename(): a.get_content() for a in msg.iter_attachments()}
    assert files == {"invoice.pdf": b"%PDF-1.4 fake", "rows.csv": "a,b\n1,2\n"}


def test_one_click_unsubscribe_headers() -> None:
    url = "https://t.example.com/unsubscribe/tok123"
    msg = parse(mime.build("d1", email(unsubscribe_url=url)))
    assert msg["List-Unsubscribe"] == f"<{url}>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "List-Unsubscribe" not in parse(mime.build("d1", email()))


def test_cc_is_a_header_and_bcc_only_the_envelope() -> None:
    given = email(cc=["Cy <cy@example.com>"], bcc=["Bo <bo@example.com>", "ann@example.com"])
    data = mime.build("d1", given)
    msg = parse(data)
    assert msg["Cc"] == "Cy <cy@example.com>"
    assert "Bcc" not in msg and b"bo@example.com" not in data
    assert mime.envelope_recipients(given) == [
        "ann@example.com",
        "cy@example.com",
        "bo@example.com",
    ]


def test_unicode_display_names_and_idna_domains() -> None:
    given = email(from_="Café Zoë <shop@bücher.example>", to=["Jürgen <j@exämple.com>"])
    data = mime.build("d1", given, date=WHEN)
    assert data.isascii()
    msg = parse(data)
    assert msg["From"] == "Café Zoë <shop@xn--bcher-kva.example>"
    assert msg["To"] == "Jürgen <j@xn--exmple-cua.com>"
    assert mime.envelope_sender(given) == "shop@xn--bcher-kva.example"
    assert not mime.needs_smtputf8(given)


def test_a_utf8_local_part_needs_smtputf8() -> None:
    given = email(to=["zoë@example.com"])
    assert mime.needs_smtputf8(given)
    assert parse(mime.build("d1", given))["To"] == "zoë@example.com"


def test_custom_headers_add_or_replace_unstructural_ones() -> None:
    headers = {"X-Campaign": "spring", "Subject": "Replaced", "List-Id": "<news.example.com>"}
    msg = parse(mime.build("d1", email(headers=headers)))
    assert msg["X-Campaign"] == "spring" and msg["List-Id"] == "<news.example.com>"
    assert msg.get_all("Subject") == ["Replaced"]


@pytest.mark.parametrize(
    "headers",
    [
        {"From": "evil@example.com"},
        {"bcc": "x@example.com"},
        {"Message-ID": "<x@y>"},
        {"Date": "now"},
        {"Content-Type": "text/plain"},
        {"X-Ok": "a\r\nBcc: evil@example.com"},
        {"Bad Name": "x"},
        {"X:Colon": "x"},
    ],
)
def test_structural_or_malformed_headers_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        mime.build("d1", email(headers=headers))


def test_preheader_is_hidden_first_in_the_body() -> None:
    msg = parse(mime.build("d1", email(preheader="Your receipt & more")))
    html = msg.get_body(("html",)).get_content()
    assert html.startswith('<html><body><div style="display:none')
    assert "Your receipt &amp; more</div><p>Thanks" in html


def test_bad_base64_and_bad_addresses_are_value_errors() -> None:
    with pytest.raises(ValueError, match="base64"):
        mime.build("d1", email(attachments=[Attachment("a.txt", "text/plain", "%%%")]))
    with pytest.raises(ValueError, match="invalid address"):
        mime.build("d1", email(to=["not an address"]))


@pytest.mark.parametrize(
    ("filename", "given", "expected"),
    [
        ("report.pdf", "", "application/pdf"),
        ("photo.JPG", "application/octet-stream", "image/jpeg"),
        ("data.bin", "", "application/octet-stream"),
        ("notes.txt", "text/markdown; charset=utf-8", "text/markdown"),
    ],
)
def test_attachment_content_type(filename: str, given: str, expected: str) -> None:
    assert mime.content_type_of(Attachment(filename, given, "")) == expected


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>One</p><p>Two</p>", "One\n\nTwo\n"),
        ("a<br>b<br/>c", "a\nb\nc\n"),
        ("<ul><li>x</li><li>y</li></ul>", "- x\n- y\n"),
        ('<a href="https://e.com/x">Shop</a>', "Shop (https://e.com/x)\n"),
        ('<a href="https://e.com/x">https://e.com/x</a>', "https://e.com/x\n"),
        ('<a href="https://e.com/x"><img src="b.png"></a>', "https://e.com/x\n"),
        ('<img alt="Logo" src="l.png"> Hi', "Logo Hi\n"),
        ("<head><style>p{}</style><title>T</title></head><script>x()</script>ok", "ok\n"),
        ("Fish &amp; chips&nbsp;&lt;3", "Fish & chips <3\n"),
        ("  lots   of\n\n\n\n  space  ", "lots of\n\nspace\n"),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


LONG = "word " * 30


@pytest.mark.parametrize(
    "given",
    [
        email(),
        email(html=None, text="Just text\r\nwith = signs and trailing space \n."),
        email(text="Given text", preheader="Your receipt & more"),
        email(unsubscribe_url="https://t.example/t/u/" + "x" * 150),
        email(subject=LONG, to=[f"N{n} <n{n}@example.com>" for n in range(15)]),
        email(cc=['"Doe, J." <j@example.com>'], reply_to="Help <help@example.com>"),
        email(headers={"Subject": "Replaced", "X-Campaign": "spring", "Reply-To": "r@e.com"}),
        email(html="<p>Café " + "é" * 200 + "</p>\n" + "<p>" + "y" * 300 + "</p>"),
        email(from_="shop@example.com", to=["a.b+c@example.com"]),
        email(message_id="", subject=""),
    ],
)
def test_the_common_shape_reads_as_the_email_package_would_write_it(given: Email) -> None:
    assert mime._plain(given)
    fast = mime.build("d9", given, date=WHEN)
    general = parse(mime._general_build("d9", given, None, WHEN))
    msg = parse(fast)
    assert max(len(line) for line in fast.split(b"\r\n")) <= 998
    assert b"\n" not in fast.replace(b"\r\n", b"")
    assert sorted(msg.keys()) == sorted(general.keys())
    # How the parts are encoded may differ; what they decode to may not.
    names = [n for n in general if n.lower() not in ("content-type", "content-transfer-encoding")]
    for name in names:
        assert msg.get_all(name) == general.get_all(name), name
    assert structure(msg) == structure(general)
    for ours, theirs in zip(msg.walk(), general.walk(), strict=True):
        if not ours.is_multipart():
            # (the email package's base64 keeps CRLF inside; receivers read it as LF)
            assert ours.get_content() == theirs.get_content().replace("\r\n", "\n")


def test_attachments_amp_and_encoded_headers_take_the_email_package() -> None:
    assert not mime._plain(email(amp="<html amp></html>"))
    assert not mime._plain(email(subject="Ça va"))
    assert not mime._plain(email(subject="=?utf-8?q?x?="))
    assert not mime._plain(email(to=["zoë@example.com"]))
    assert not mime._plain(email(from_="shop@bücher.example"))


_PIECES = [
    "Hello",
    " there ",
    "\n\n",
    "Fish &amp; chips",
    "&nbsp;&lt;3&#39;&unknown;",
    "a > b",
    "<p>",
    "</p>",
    "<P>",
    "<div class='x'>",
    "</div >",
    "<br>",
    "<br/>",
    "<br />",
    "<p/>",
    "<ul>",
    "<li>",
    "</li>",
    "<b>",
    "</b>",
    "<h1>",
    "</h1>",
    '<a href="https://e.com/x?a=1&amp;b=2">',
    "<a href='#top'>",
    "<a href=https://e.com/y>",
    '<a href="" download>',
    "<a>",
    '<A HREF="mailto:x@y.z">',
    "</a>",
    '<a href="x"/>',
    '<img alt="Logo &amp; co" src="l.png">',
    "<img alt=''>",
    "<img src=x.png alt=Pic/>",
    "<script>if (a < b) { x() }</script>",
    "<style>p > a { }</style >",
    "<script/>",
    "<head>",
    "</head>",
    "<title>T</title>",
    "<!-- a comment -- with dashes -->",
    "<!DOCTYPE html>",
    "<",
    "< b",
    "<a <a",
    "</",
    "<3",
    "<my-tag>",
    '<a href="x"title="y">',
    "<script>never closed",
    "\u00e9t\u00e9 \u2713",
]


@settings(max_examples=2000)
@given(st.lists(st.sampled_from(_PIECES), max_size=14))
def test_html_to_text_without_htmlparser_gives_what_htmlparser_gives(pieces: list[str]) -> None:
    html = "".join(pieces)
    assert html_to_text(html) == text.parsed(html)
