"""Persistence: tables, region databases, inbox, outbox, event log, audit log, migrations."""
