"""The acceptance harness both vendor sides share: one running ``inkbridge serve`` configured
through a real ``inkbridge.toml`` (written from a tree, secrets as ``file:`` references), the
fakes it talks to (``Served`` by uvicorn in threads), and polling with a useful failure message.

``provider_stack.py`` adds the six e-signature emulators, ``destination_stack.py`` the six CRM
and marketing emulators and a Standard Webhooks receiver; ``conftest.py`` the small sandbox-only
stack."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.support.builders import SECRET
from tests.support.processes import INKBRIDGE, Process, cli, wait_http

T = TypeVar("T")
S = TypeVar("S", bound="Inkbridge")

# The sandbox CRM destination every stack with a CRM configures: patient retries, quick backoff.
SANDBOX_CRM: dict[str, Any] = {
    "kind": "sandbox_crm",
    "max_attempts": 30,
    "backoff_base_seconds": 0.05,
    "backoff_cap_seconds": 1.0,
    "rate_per_second": 200,
    "timeout_seconds": 3,
}


def wait_for(
    condition: Callable[[], T | None], what: str, timeout: float = 20.0, every: float = 0.05
) -> T:
    """Poll ``condition`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last seen: {last!r}")


def poll_until(
    condition: Callable[[], Any], what: str, timeout: float = 30.0, every: float = 0.1
) -> Any:
    """``wait_for`` with a slower poll, for conditions that read several emulators."""
    return wait_for(condition, what, timeout, every)


def ada_lead(email: str, *, campaign: str, consent: str, **extra: str) -> dict[str, Any]:
    """A ``POST /v1/leads`` body: Ada Lovelace, from the newsletter's ``campaign`` email, who
    granted ``consent``."""
    return {
        "email": email,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "utm_source": "newsletter",
        "utm_medium": "email",
        "utm_campaign": campaign,
        **extra,
        "consents": [{"kind": consent, "status": "granted"}],
    }


# -- inkbridge.toml ----------------------------------------------------------------------------


def secret_ref(root: Path, name: str, value: str) -> str:
    """Write ``value`` to a private file under ``root/secrets`` and return its ``file:`` ref."""
    path = root / "secrets" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value + "\n", encoding="utf-8")
    path.chmod(0o600)
    return f"file:{path}"


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else json.dumps(name)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def toml_lines(tree: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> list[str]:
    """``tree`` as TOML: scalars of a table first, then its sub-tables as ``[a.b]`` sections
    (the standard library reads TOML but does not write it)."""
    lines = [f"{_key(k)} = {_value(v)}" for k, v in tree.items() if not isinstance(v, Mapping)]
    for name, sub in tree.items():
        if isinstance(sub, Mapping):
            path = (*prefix, name)
            lines += ["", "[" + ".".join(_key(p) for p in path) + "]"]
            lines += toml_lines(sub, path)
    return lines


def base_config(root: Path, port: int, **worker: float) -> dict[str, Any]:
    """The part of ``inkbridge.toml`` every stack shares: the sandbox on, one region, the
    sandbox connection (its webhook secret is ``SECRET``), a fast-polling worker and the
    ``nda`` template. Callers add destinations, connections and templates."""
    return {
        "data_dir": str(root / "data"),
        "sandbox": True,
        "log_level": "warning",
        "server": {"host": "127.0.0.1", "port": port},
        "worker": {"poll_interval_seconds": 0.05, "lease_seconds": 5, **worker},
        "regions": {"default": {}},
        "connections": {
            "sandbox": {
                "provider": "sandbox",
                "secrets": [secret_ref(root, "sandbox-webhook", SECRET)],
            }
        },
        "destinations": {},
        "templates": {"nda": {"title": "Mutual non-disclosure agreement", "version": 2}},
    }


def write_config(root: Path, tree: Mapping[str, Any]) -> Path:
    path = root / "inkbridge.toml"
    path.write_text("\n".join(toml_lines(tree)) + "\n", encoding="utf-8")
    return path


def admin_token(config: Path) -> str:
    """Migrate the configured databases and return a new admin token."""
    cli(["migrate", "--config", str(config)])
    return cli(["tokens", "create", "--config", str(config), "--scope", "admin"]).strip()


# -- the running inkbridge ---------------------------------------------------------------------


@dataclass(kw_only=True)
class Inkbridge:
    """One ``inkbridge serve`` process and an admin client of its /v1 API; subclasses add the
    fakes it talks to and stop them in ``stop_fakes``."""

    root: Path
    port: int
    token: str
    server: Process | None = None
    _api: httpx.Client | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> httpx.Client:
        if self._api is None:
            self._api = httpx.Client(
                base_url=self.base,
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=30.0,
            )
        return self._api

    def serve(self, config: Path) -> None:
        self.server = Process(
            [*INKBRIDGE, "serve", "--config", str(config)], self.root / "serve.log"
        ).start()
        wait_http(self.base + "/healthz", proc=self.server.proc)

    def log(self) -> str:
        return self.server.log() if self.server is not None else ""

    def stop(self) -> None:
        if self._api is not None:
            self._api.close()
        if self.server is not None:
            self.server.stop()
        self.stop_fakes()

    def stop_fakes(self) -> None:
        """Stop what the subclass started besides inkbridge (nothing here)."""


def launch(stack: S, config: Path, started: ExitStack) -> S:
    """Start ``stack``'s inkbridge. From here on ``stack.stop`` owns the fakes ``started``
    would otherwise stop; a failure stops everything and is raised."""
    started.pop_all()
    try:
        stack.serve(config)
    except BaseException:
        stack.stop()
        raise
    return stack
