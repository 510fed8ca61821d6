"""A region's key-encryption keys (KEKs): the current one, which wraps every new data key, and
the previous ones, which only unwrap keys not yet rotated. Each is named by a key id, a short
fingerprint of the key, so a stored wrapped key says which KEK it needs without revealing it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from inkbridge.errors import InkbridgeError
from inkbridge.privacy.field_cipher import KEY_BYTES, NONCE_BYTES, new_key


@dataclass
class KeyUnavailable(InkbridgeError):
    """Data of a region is wrapped under a key that is not configured (lost, or left out of
    ``previous_keys`` too early). Names the key by its id, never the key."""

    region: str
    key_id: str

    message = (
        "region {region!r} holds data keys wrapped under key id {key_id!r}, "
        "which is not configured: restore it as regions.{region}.key or in "
        "regions.{region}.previous_keys, or, for a managed key, put its file back as "
        "keys/{region}/current.key in the data directory (then run `inkbridge keys "
        "rotate --region {region}`)"
    )


@dataclass
class KeyUnwrapFailed(InkbridgeError):
    """A wrapped data key did not unwrap under the KEK its row names: the row was altered."""

    region: str
    key_id: str

    message = "region {region!r}: a data key under key id {key_id!r} does not unwrap"


def parse_key(material: str, where: str) -> bytes:
    """A KEK from its configured text: 32 random bytes, base64 (standard or URL-safe)."""
    text = material.strip()
    try:
        raw = base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise InvalidKeyMaterial(where)
    return raw


@dataclass
class InvalidKeyMaterial(InkbridgeError):
    """A configured key is not 32 bytes of base64; says where, never what."""

    where: str

    message = (
        "{where}: a region key must be 32 random bytes in base64 (e.g. `openssl rand -base64 32`)"
    )


def encode_key(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def key_id(raw: bytes) -> str:
    """The fingerprint that names a KEK: 12 hex digits of a keyed hash of it."""
    return hmac.new(raw, b"inkbridge-kek-id", hashlib.sha256).hexdigest()[:12]


@dataclass(frozen=True)
class Kek:
    id: str
    cipher: AESGCM = field(repr=False)

    @classmethod
    def of(cls, raw: bytes) -> Kek:
        return cls(key_id(raw), AESGCM(raw))


def _wrap_aad(label: str) -> bytes:
    return b"inkbridge-data-key|" + label.encode()


@dataclass(frozen=True)
class RegionKeys:
    """The KEKs of one region. ``label`` (the data key's id, or a receipt's identity) is bound
    into each wrapping, so a wrapped key copied onto another row does not unwrap there."""

    region: str
    current: Kek
    previous: tuple[Kek, ...] = ()

    @classmethod
    def from_raw(
        cls, region: str, current: bytes, previous: list[bytes] | None = None
    ) -> RegionKeys:
        current_kek = Kek.of(current)
        older = tuple(Kek.of(raw) for raw in (previous or []) if key_id(raw) != current_kek.id)
        return cls(region, current_kek, older)

    @classmethod
    def ephemeral(cls, region: str) -> RegionKeys:
        """A key that lives as long as this process: for tools and tests given no key."""
        return cls.from_raw(region, new_key())

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset({self.current.id, *(k.id for k in self.previous)})

    def wrap(self, data_key: bytes, label: str) -> tuple[str, bytes]:
        """(KEK id, nonce || wrapped key) under the current KEK."""
        nonce = os.urandom(NONCE_BYTES)
        return self.current.id, nonce + self.current.cipher.encrypt(
            nonce, data_key, _wrap_aad(label)
        )

    def unwrap(self, kek_id: str, wrapped: bytes, label: str) -> bytes:
        kek = self._kek(kek_id)
        try:
            return kek.cipher.decrypt(
                wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _wrap_aad(label)
            )
        except InvalidTag:
            raise KeyUnwrapFailed(self.region, kek_id) from None

    def _kek(self, kek_id: str) -> Kek:
        if kek_id == self.current.id:
            return self.current
        for kek in self.previous:
            if kek.id == kek_id:
                return kek
        raise KeyUnavailable(self.region, kek_id)
