"""Dynamics 365 test fixtures: the Dataverse emulator app, its state (``dyn``), and the URL the
client talks to."""

from __future__ import annotations

from ..crm_vendors import DYNAMICS

base_url, app, dyn = DYNAMICS.folder_fixtures("dyn")
