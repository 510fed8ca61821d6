"""The signed document each provider emulator serves at its vendor's download route: the
product's own minimal PDF (``inkbridge.sandbox.signed_pdf``) naming the vendor's envelope id, so
a test can rebuild the exact bytes it should receive."""

from __future__ import annotations

from starlette.responses import Response

from inkbridge.sandbox.signed_pdf import PDF_MEDIA_TYPE, signed_pdf

__all__ = ["pdf_response", "signed_pdf"]


def pdf_response(pdf: bytes, filename: str = "document.pdf") -> Response:
    """A PDF answer as the vendors send one: the file, as an attachment."""
    return Response(
        pdf,
        media_type=PDF_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
