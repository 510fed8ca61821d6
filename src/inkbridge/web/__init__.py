"""Browser-facing pages: the dashboard, the capture snippet and the signing-link redirect.

The built-in sandbox vendors live in ``inkbridge.sandbox``.
"""
