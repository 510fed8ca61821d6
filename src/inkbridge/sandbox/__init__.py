"""The built-in sandbox: a fake e-signature provider (with its signing page) and a fake CRM /
marketing tool that ``inkbridge serve`` mounts under ``/sandbox`` so it runs end to end with no
vendor account, and who may call them (``guard``, ``mounts``).

They speak real HTTP, keep their state in small SQLite files and accept failure injection
(``faults``), so local runs and acceptance tests exercise the code paths a real vendor would.
"""
