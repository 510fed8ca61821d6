"""Test support: fakes for our own interfaces, builders for settings and signed deliveries."""
