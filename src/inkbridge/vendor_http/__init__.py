"""The one vendor-HTTP layer that provider clients and CRM connectors share: how a vendor's
answer is classified (``responses``), how bearer tokens are fetched and refreshed (``auth``) and
how Standard Webhooks messages are signed and verified (``signing``).

It imports neither ``inkbridge.providers`` nor ``inkbridge.connectors``; both import it.
"""
