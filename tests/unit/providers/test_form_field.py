"""Reading one field of a multipart/form-data body (Dropbox Sign's callbacks carry their event
JSON in the field ``json``)."""

from __future__ import annotations

import pytest

from inkbridge.providers.form_field import multipart_field

BOUNDARY = "XyZ-boundary-42"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def form(*parts: tuple[str, bytes]) -> bytes:
    """A multipart body; each part is (its header lines, its data)."""
    body = b""
    for headers, data in parts:
        body += f"--{BOUNDARY}\r\n{headers}\r\n\r\n".encode() + data + b"\r\n"
    return body + f"--{BOUNDARY}--\r\n".encode()


def test_the_named_field_is_read_from_among_other_parts() -> None:
    body = form(
        ('Content-Disposition: form-data; name="note"', b"not this one"),
        ('Content-Disposition: form-data; name="json"', b'{"event": {}}'),
        ('Content-Disposition: form-data; name="after"', b"nor this"),
    )
    assert multipart_field(CONTENT_TYPE, body, "json") == (b'{"event": {}}', "utf-8")


def test_the_charset_is_the_one_the_field_itself_declares() -> None:
    body = form(
        (
            'Content-Disposition: form-data; name="note"\r\n'
            "Content-Type: text/plain; charset=utf-16",
            b"x",
        ),
        (
            "Content-Type: application/json; charset=iso-8859-1\r\n"
            'Content-Disposition: form-data; name="json"',
            '{"name": "Zoë"}'.encode("iso-8859-1"),
        ),
    )
    raw, charset = multipart_field(CONTENT_TYPE, body, "json") or (b"", "")
    assert charset == "iso-8859-1"
    assert raw.decode(charset) == '{"name": "Zoë"}'


def test_a_field_sent_as_a_file_is_read_like_any_other() -> None:
    body = form(
        ('Content-Disposition: form-data; name="json"; filename="event.json"', b"[1, 2]"),
    )
    assert multipart_field(CONTENT_TYPE, body, "json") == (b"[1, 2]", "utf-8")


def test_the_first_of_two_fields_with_the_name_wins() -> None:
    body = form(
        ('Content-Disposition: form-data; name="json"', b"first"),
        ('Content-Disposition: form-data; name="json"', b"second"),
    )
    assert multipart_field(CONTENT_TYPE, body, "json") == (b"first", "utf-8")


def test_a_form_without_the_field_or_without_a_boundary_has_none() -> None:
    body = form(('Content-Disposition: form-data; name="other"', b"1"))
    assert multipart_field(CONTENT_TYPE, body, "json") is None
    assert multipart_field("multipart/form-data", body, "json") is None


def test_a_body_that_is_not_multipart_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        multipart_field(CONTENT_TYPE, b"this is not a form at all", "json")
