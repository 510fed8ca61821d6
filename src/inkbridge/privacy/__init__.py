"""Encryption at rest: field ciphers, the regions' key-encryption keys, the blind index."""
