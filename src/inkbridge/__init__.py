"""inkbridge: e-signature as a governed step of marketing and sales workflows."""

__version__ = "0.1.0"
