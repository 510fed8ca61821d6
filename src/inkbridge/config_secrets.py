"""Secret references: a secret is written in configuration as ``env:NAME`` or ``file:PATH``,
never inline, and resolved into a ``SecretStr`` only where it is used."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, SecretStr

from inkbridge.errors import ConfigError

REFERENCE_REQUIRED = "inline secrets are refused; use env:NAME or file:/path"


def resolve_secret(reference: str, environ: dict[str, str] | None = None) -> SecretStr:
    """Turn ``env:NAME`` or ``file:PATH`` into the secret it names."""
    env = os.environ if environ is None else environ
    if reference.startswith("env:"):
        name = reference[4:]
        if name not in env:
            raise ConfigError(f"secret reference {reference!r}: environment variable is not set")
        return SecretStr(env[name])
    if reference.startswith("file:"):
        path = Path(reference[5:])
        try:
            return SecretStr(path.read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise ConfigError(f"secret reference {reference!r}: {exc.strerror}") from exc
    raise ConfigError(REFERENCE_REQUIRED)


def _reference(value: str) -> str:
    if not value.startswith(("env:", "file:")):
        raise ValueError(REFERENCE_REQUIRED)
    return value


# A secret written as a reference; the secret itself is never in the file.
SecretReference = Annotated[str, AfterValidator(_reference)]
