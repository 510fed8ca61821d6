"""Sealing a field: it opens only in the column it was sealed for, under the key that sealed it,
and a changed byte is refused; region keys name themselves by id and refuse what they lack."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from inkbridge.privacy import field_cipher
from inkbridge.privacy.blind_index import email_index
from inkbridge.privacy.field_cipher import SealedValueUnreadable, new_key
from inkbridge.privacy.region_keys import (
    InvalidKeyMaterial,
    KeyUnavailable,
    KeyUnwrapFailed,
    RegionKeys,
    encode_key,
    key_id,
    parse_key,
)

EMAIL = "ada.lovelace@example.org"


def _cipher() -> AESGCM:
    return AESGCM(new_key())


def test_a_sealed_text_opens_to_the_value_and_does_not_show_it() -> None:
    cipher = _cipher()
    sealed = field_cipher.seal_text(cipher, "k1", "leads.email", EMAIL)
    assert sealed.startswith("ib1.k1.")
    assert "ada" not in sealed and "example" not in sealed
    assert field_cipher.key_id_of(sealed) == "k1"
    assert field_cipher.open_text(cipher, "leads.email", sealed) == EMAIL


def test_the_same_value_seals_differently_each_time() -> None:
    cipher = _cipher()
    assert field_cipher.seal_text(cipher, "k1", "leads.email", EMAIL) != field_cipher.seal_text(
        cipher, "k1", "leads.email", EMAIL
    )


def test_a_value_moved_to_another_column_does_not_open() -> None:
    cipher = _cipher()
    sealed = field_cipher.seal_text(cipher, "k1", "leads.email", EMAIL)
    with pytest.raises(SealedValueUnreadable) as refused:
        field_cipher.open_text(cipher, "recipients.email", sealed)
    assert "recipients.email" in str(refused.value)
    assert EMAIL not in str(refused.value)


def test_a_tampered_value_is_refused() -> None:
    cipher = _cipher()
    sealed = field_cipher.seal_text(cipher, "k1", "leads.email", EMAIL)
    flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(SealedValueUnreadable):
        field_cipher.open_text(cipher, "leads.email", flipped)
    body = field_cipher.seal_bytes(cipher, "r", "webhook_receipts.body", b'{"a": 1}')
    with pytest.raises(SealedValueUnreadable):
        field_cipher.open_bytes(cipher, "webhook_receipts.body", body[:-1] + bytes([body[-1] ^ 1]))


def test_a_value_under_another_key_is_refused() -> None:
    sealed = field_cipher.seal_text(_cipher(), "k1", "leads.email", EMAIL)
    with pytest.raises(SealedValueUnreadable):
        field_cipher.open_text(_cipher(), "leads.email", sealed)


def test_bytes_round_trip_and_are_recognised_as_sealed() -> None:
    cipher = _cipher()
    body = b'{"recipient_email": "ada.lovelace@example.org"}'
    sealed = field_cipher.seal_bytes(cipher, "r", "webhook_receipts.body", body)
    assert field_cipher.is_sealed(sealed) and not field_cipher.is_sealed(body)
    assert b"ada" not in sealed
    assert field_cipher.key_id_of(sealed) == "r"
    assert field_cipher.open_bytes(cipher, "webhook_receipts.body", sealed) == body


def test_a_data_key_unwraps_only_under_its_label_and_a_known_key() -> None:
    keys = RegionKeys.from_raw("eu", new_key())
    data_key = new_key()
    kek_id, wrapped = keys.wrap(data_key, "kabc")
    assert kek_id == keys.current.id
    assert keys.unwrap(kek_id, wrapped, "kabc") == data_key
    with pytest.raises(KeyUnwrapFailed):
        keys.unwrap(kek_id, wrapped, "kother")
    with pytest.raises(KeyUnavailable) as missing:
        RegionKeys.from_raw("eu", new_key()).unwrap(kek_id, wrapped, "kabc")
    message = str(missing.value)
    assert "'eu'" in message and kek_id in message


def test_previous_keys_still_unwrap_and_the_current_one_wraps() -> None:
    old, new = new_key(), new_key()
    _, wrapped = RegionKeys.from_raw("eu", old).wrap(b"k" * 32, "kabc")
    rotated = RegionKeys.from_raw("eu", new, [old])
    assert rotated.unwrap(key_id(old), wrapped, "kabc") == b"k" * 32
    assert rotated.wrap(b"k" * 32, "kabc")[0] == key_id(new)
    assert rotated.key_ids == {key_id(old), key_id(new)}


def test_key_material_must_be_32_bytes_of_base64_and_is_never_echoed() -> None:
    raw = new_key()
    assert parse_key(encode_key(raw), "regions.eu.key") == raw
    with pytest.raises(InvalidKeyMaterial) as refused:
        parse_key("not-a-key-at-all", "regions.eu.key")
    assert "regions.eu.key" in str(refused.value)
    assert "not-a-key-at-all" not in str(refused.value)


def test_the_blind_index_is_keyed_and_ignores_case_and_spaces() -> None:
    key = new_key()
    assert email_index(key, " Ada.Lovelace@Example.org ") == email_index(key, EMAIL)
    assert email_index(new_key(), EMAIL) != email_index(key, EMAIL)
    assert len(email_index(key, EMAIL)) == 64
