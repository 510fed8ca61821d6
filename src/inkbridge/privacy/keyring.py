"""A region's keyring as one process holds it: the region's KEKs and a bounded cache of the
data keys it has unwrapped, so reading a lead's fields costs one unwrap per key, not per field.

Cached keys expire after ``ttl`` seconds: a data key shredded by another process (an erasure)
stops opening here within that time, without every read asking the database.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from inkbridge.privacy.region_keys import RegionKeys

DEFAULT_CACHE_SIZE = 4096
DEFAULT_TTL_SECONDS = 30.0

Subject = tuple[str, str]  # (subject type, subject id): "lead", "envelope", "anonymous", …


@dataclass(frozen=True)
class DataKey:
    """An unwrapped data key: its id (what sealed values name) and its cipher."""

    id: str
    cipher: AESGCM = field(repr=False)


class _Expiring:
    """A bounded LRU map whose entries expire; thread-safe."""

    def __init__(self, size: int, ttl: float, clock: Callable[[], float]) -> None:
        self._size, self._ttl, self._clock = size, ttl, clock
        self._items: OrderedDict[object, tuple[float, object]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: object) -> object | None:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            if found[0] < self._clock():
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return found[1]

    def put(self, key: object, value: object) -> None:
        with self._lock:
            self._items[key] = (self._clock() + self._ttl, value)
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def drop(self, key: object) -> None:
        with self._lock:
            self._items.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class Keyring:
    """The KEKs of a region and this process's cache of its unwrapped data keys."""

    def __init__(
        self,
        keys: RegionKeys,
        *,
        cache_size: int = DEFAULT_CACHE_SIZE,
        ttl: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.keys = keys
        self._by_id = _Expiring(cache_size, ttl, clock)
        self._by_subject = _Expiring(cache_size, ttl, clock)
        self.index_key: bytes | None = None  # never shredded, so cached for good

    @property
    def region(self) -> str:
        return self.keys.region

    def cached(self, key_id: str) -> DataKey | None:
        found = self._by_id.get(key_id)
        return found if isinstance(found, DataKey) else None

    def cached_for(self, subject: Subject) -> DataKey | None:
        found = self._by_subject.get(subject)
        return found if isinstance(found, DataKey) else None

    def remember(self, key: DataKey, subject: Subject | None = None) -> None:
        self._by_id.put(key.id, key)
        if subject is not None:
            self._by_subject.put(subject, key)

    def forget(self, key_id: str, subject: Subject) -> None:
        self._by_id.drop(key_id)
        self._by_subject.drop(subject)

    def forget_all(self) -> None:
        self._by_id.clear()
        self._by_subject.clear()
