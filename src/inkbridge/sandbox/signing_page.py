"""The sandbox provider's signing pages: plain, accessible HTML with no external assets.

Every value that came from a request is escaped. The form posts to paths relative to the page,
so the pages work wherever the sandbox is mounted.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from starlette.responses import HTMLResponse

# No scripts, no external fetches; inline styles only. No form-action directive: browsers apply
# it to the redirect after posting, which would block the return to the caller's return_url.
_SECURITY_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'",
    "referrer-policy": "no-referrer",  # the URL carries the signing token
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
}

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.5; color: #1a1a1a; }
.document { border: 1px solid #888; padding: 1rem 1.5rem; margin: 1rem 0; }
button { font-size: 1rem; padding: 0.5rem 1.25rem; margin-right: 0.75rem; cursor: pointer; }
button.sign { background: #0b5cad; color: #fff; border: 2px solid #0b5cad; }
button.decline { background: #fff; color: #8a1c1c; border: 2px solid #8a1c1c; }
button:focus-visible { outline: 3px solid #f0a000; outline-offset: 2px; }
"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )
    return HTMLResponse(html, status_code=status, headers=_SECURITY_HEADERS)


def signing_page(
    *, token: str, title: str, signer_name: str, merge_fields: Mapping[str, str]
) -> HTMLResponse:
    """The document and two buttons: Sign and Decline."""
    fields = "".join(
        f"<dt>{escape(str(k))}</dt><dd>{escape(str(v))}</dd>" for k, v in merge_fields.items()
    )
    details = f"<dl>{fields}</dl>" if fields else ""
    quoted = escape(token, quote=True)
    body = f"""<h1>{escape(title)}</h1>
<p>Signer: <strong id="signer-name">{escape(signer_name)}</strong></p>
<section class="document" aria-labelledby="document-heading">
<h2 id="document-heading">Document</h2>
<p>This is a sandbox document. Signing it has no legal effect.</p>
{details}
</section>
<form method="post" action="{quoted}/sign" aria-label="Sign or decline {escape(title)}">
<button type="submit" class="sign">Sign</button>
<button type="submit" class="decline" formaction="{quoted}/decline">Decline</button>
</form>"""
    return _page(f"Sign: {title}", body)


def done_page(*, title: str, outcome: str) -> HTMLResponse:
    """Shown after signing or declining when the caller gave no return URL."""
    message = "You signed this document." if outcome == "signed" else "You declined this document."
    body = (
        f'<h1>{escape(title)}</h1>\n<p role="status" id="outcome" data-outcome="{escape(outcome)}">'
        f"{message}</p>\n<p>You can close this page.</p>"
    )
    return _page(f"Done: {title}", body)


def unavailable_page(reason: str, status: int) -> HTMLResponse:
    """A used, unknown or finished signing link."""
    body = f'<h1>Signing link unavailable</h1>\n<p role="alert">{escape(reason)}</p>'
    return _page("Signing link unavailable", body, status)
