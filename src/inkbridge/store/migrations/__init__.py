"""Alembic migrations of a region's schema."""
