"""Browser-facing pages: the console, the capture snippet and the signing-link redirect.

The built-in sandbox vendors live in ``inkbridge.sandbox``.
"""
