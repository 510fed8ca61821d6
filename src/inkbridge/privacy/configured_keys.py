"""Each region's KEKs as the settings name them: ``[regions.<r>] key`` and ``previous_keys``
(secret references), or, when no key is configured, a managed key file under
``<data_dir>/keys/<region>/`` created at first start (owner-only permissions).

A managed directory holds ``current.key`` and ``previous/<key id>.key``; rotation writes a new
``current.key``, keeps the old one under ``previous/`` until every data key is re-wrapped, then
moves it to ``retired/``, which is never read again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from inkbridge.config import Settings, resolve_secret
from inkbridge.privacy.field_cipher import new_key
from inkbridge.privacy.region_keys import RegionKeys, encode_key, key_id, parse_key

CURRENT = "current.key"
PREVIOUS = "previous"
RETIRED = "retired"


def managed_dir(settings: Settings, region: str) -> Path:
    return settings.data_dir / "keys" / region


def is_managed(settings: Settings, region: str) -> bool:
    return settings.regions[region].key is None


def _write_key(path: Path, raw: bytes) -> None:
    """Write a key file readable by its owner only, atomically (a crash leaves the old one)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    staging = path.with_name(path.name + ".new")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(encode_key(raw) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(staging, path)


def _read_key(path: Path) -> bytes:
    return parse_key(path.read_text(encoding="ascii"), str(path))


def _managed(settings: Settings, region: str) -> RegionKeys:
    folder = managed_dir(settings, region)
    current = folder / CURRENT
    if not current.exists():
        _write_key(current, new_key())
    older = sorted((folder / PREVIOUS).glob("*.key")) if (folder / PREVIOUS).is_dir() else []
    return RegionKeys.from_raw(region, _read_key(current), [_read_key(p) for p in older])


def _configured(settings: Settings, region: str) -> RegionKeys:
    conf = settings.regions[region]
    assert conf.key is not None
    current = parse_key(resolve_secret(conf.key).get_secret_value(), f"regions.{region}.key")
    previous = [
        parse_key(resolve_secret(ref).get_secret_value(), f"regions.{region}.previous_keys[{i}]")
        for i, ref in enumerate(conf.previous_keys)
    ]
    return RegionKeys.from_raw(region, current, previous)


def region_keys(settings: Settings) -> dict[str, RegionKeys]:
    """Every region's KEKs; managed key files are created here when missing."""
    return {
        region: _managed(settings, region)
        if is_managed(settings, region)
        else _configured(settings, region)
        for region in settings.regions
    }


def existing_region_keys(settings: Settings, region: str) -> RegionKeys | None:
    """A region's KEKs as they stand, creating nothing: None for a managed region whose key
    file the first start has not made yet."""
    if not is_managed(settings, region):
        return _configured(settings, region)
    if not (managed_dir(settings, region) / CURRENT).exists():
        return None
    return _managed(settings, region)


@dataclass(frozen=True)
class ManagedRotation:
    """A managed key rotation under way: the new current key, and the old one to retire."""

    region: str
    folder: Path
    old_id: str
    new_id: str

    def retire(self) -> None:
        """Every data key is re-wrapped: the older managed keys are no longer read."""
        retired = self.folder / RETIRED
        retired.mkdir(exist_ok=True, mode=0o700)
        for path in sorted((self.folder / PREVIOUS).glob("*.key")):
            path.replace(retired / path.name)


def start_managed_rotation(settings: Settings, region: str) -> ManagedRotation:
    """Make a new current key for a managed region, keeping the old one as previous."""
    folder = managed_dir(settings, region)
    old = _read_key(folder / CURRENT) if (folder / CURRENT).exists() else new_key()
    fresh = new_key()
    _write_key(folder / PREVIOUS / f"{key_id(old)}.key", old)
    _write_key(folder / CURRENT, fresh)
    return ManagedRotation(region, folder, key_id(old), key_id(fresh))
