"""One named field of a ``multipart/form-data`` body, read with python-multipart's streaming
parser: the other parts are skipped as they pass, never copied or spooled to disk."""

from __future__ import annotations

from python_multipart.multipart import MultipartParser, parse_options_header


class _FieldReader:
    """Parser callbacks that keep the bytes and charset of the first part named ``name``."""

    def __init__(self, name: bytes) -> None:
        self._name = name
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._in_field = False
        self._part_charset: str | None = None
        self._chunks: list[bytes] = []
        self.value: bytes | None = None
        self.charset: str | None = None

    def on_part_begin(self) -> None:
        self._in_field = False
        self._part_charset = None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        header = bytes(self._header_name).strip().lower()
        _, params = parse_options_header(bytes(self._header_value))
        if header == b"content-disposition" and params.get(b"name") == self._name:
            self._in_field = self.value is None
        elif header == b"content-type" and b"charset" in params:
            self._part_charset = params[b"charset"].decode("latin-1")
        self._header_name.clear()
        self._header_value.clear()

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_field:
            self._chunks.append(data[start:end])

    def on_part_end(self) -> None:
        if self._in_field:
            self.value = b"".join(self._chunks)
            self.charset = self._part_charset
            self._in_field = False


def multipart_field(content_type_header: str, body: bytes, name: str) -> tuple[bytes, str] | None:
    """The bytes of field ``name`` and the charset its part declares (``utf-8`` when none), or
    None when the body has no such field. A body that is not multipart raises ``ValueError``."""
    _, params = parse_options_header(content_type_header)
    boundary = params.get(b"boundary")
    if not boundary:
        return None
    reader = _FieldReader(name.encode("utf-8"))
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": reader.on_part_begin,
            "on_header_field": reader.on_header_field,
            "on_header_value": reader.on_header_value,
            "on_header_end": reader.on_header_end,
            "on_part_data": reader.on_part_data,
            "on_part_end": reader.on_part_end,
        },
    )
    parser.write(body)
    parser.finalize()
    if reader.value is None:
        return None
    return reader.value, reader.charset or "utf-8"
