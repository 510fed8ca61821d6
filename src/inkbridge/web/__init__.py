"""Browser-facing pages and the built-in sandbox vendor emulators.

The sandbox e-signature provider (``sandbox_provider``, with its signing page) and the sandbox
CRM / marketing tool (``sandbox_crm``) let inkbridge run end to end with no real vendor. They
speak real HTTP, keep their state in small SQLite files and accept failure injection, so local
runs and acceptance tests exercise the same code paths a real vendor would.
"""
