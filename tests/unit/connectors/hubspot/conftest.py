"""HubSpot test fixtures: the emulator app, its state (``hub``), and the URL the client talks
to."""

from __future__ import annotations

from ..crm_vendors import HUBSPOT

base_url, app, hub = HUBSPOT.folder_fixtures("hub")
