"""The signed document the sandbox provider and the vendor emulators hand out: a small, valid
PDF 1.4 file (one page, Helvetica, a correct cross-reference table) naming the envelope, built in
code so that no fixture file has to ship and a test can rebuild the exact bytes it expects.
"""

from __future__ import annotations

import re

PDF_MEDIA_TYPE = "application/pdf"
# Only printable ASCII goes into the page's text: the standard Helvetica encoding needs no
# font file for it, and a vendor id or title never needs more.
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


def _pdf_text(value: str) -> str:
    """``value`` as the body of a PDF literal string: printable ASCII, delimiters escaped."""
    text = _UNPRINTABLE.sub("?", value)[:200]
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def signed_pdf(envelope_id: str, title: str = "Signed document", vendor: str = "sandbox") -> bytes:
    """A one-page PDF saying that ``envelope_id`` (the vendor's id) was signed. The same
    arguments always give the same bytes."""
    lines = [
        f"{vendor} - signed document",
        f"Title: {title}",
        f"Envelope: {envelope_id}",
    ]
    text = "\n".join(
        f"BT /F1 14 Tf 72 {720 - 24 * row} Td ({_pdf_text(line)}) Tj ET"
        for row, line in enumerate(lines)
    ).encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text),
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: list[int] = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)
