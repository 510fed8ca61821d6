"""E-signature providers: one module per vendor, behind the shapes in providers.base."""
