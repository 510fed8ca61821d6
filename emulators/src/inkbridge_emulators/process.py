"""Running an emulator as its own process: ``python -m inkbridge_emulators.<vendor> --port N``.

Acceptance tests start the destination emulators this way so one can be killed mid-load; the
provider emulators run the same way for local runs (they deliver webhooks to ``--webhook-url``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette


def emulator_arguments(
    description: str, default_port: int, *, database: bool = True
) -> argparse.ArgumentParser:
    """The options every emulator process takes; vendor modules add their own."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    if database:
        parser.add_argument("--db", type=Path, default=None, help="SQLite file (default: memory)")
    parser.add_argument("--log-level", default="warning")
    return parser


def serve(app: Any, args: argparse.Namespace) -> None:
    """Serve ``app`` on ``--host``/``--port`` until the process is stopped."""
    import uvicorn

    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)


@dataclass(frozen=True)
class ProviderProcess:
    """How a provider emulator runs as a process: its webhooks go to ``--webhook-url`` (the
    ``factory`` argument ``webhook_option``); each credential is ``--<name>`` with a development
    default, since the emulator exists for tests and local runs only."""

    factory: Callable[..., Starlette]
    vendor: str
    default_port: int
    webhook_option: str
    credentials: Mapping[str, str]

    def main(self, argv: Sequence[str] | None = None) -> None:
        """Parse the options and serve the emulator until the process is stopped."""
        parser = emulator_arguments(
            f"Run the inkbridge {self.vendor} emulator.", self.default_port, database=False
        )
        parser.add_argument("--webhook-url", required=True, help="where webhooks are delivered")
        for name, default in self.credentials.items():
            parser.add_argument("--" + name.replace("_", "-"), default=default)
        args = parser.parse_args(argv)
        options = {name: getattr(args, name) for name in self.credentials}
        serve(self.factory(**{self.webhook_option: args.webhook_url}, **options), args)
