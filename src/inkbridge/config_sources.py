"""Where settings come from, and how a wrong one is reported.

Layers, lowest first: the TOML file (or, without one, the sandbox defaults); the ``INKBRIDGE_*``
environment, nested with ``__`` (``INKBRIDGE_SERVER__PORT=9000``); the command line's own
options. pydantic-settings reads the file and the environment into the ``Settings`` model,
whose every table forbids unknown keys. Whatever is wrong comes back as one ``ConfigError``
line naming the key (dotted path) and where it was written; never the value, which may be a
secret.
"""

from __future__ import annotations

import base64
import difflib
import os
import secrets as pysecrets
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import EnvSettingsSource, SettingsError, TomlConfigSettingsSource

from inkbridge.config import CONFIG_ENV, ENV_PREFIX, SANDBOX_CONNECTION, Settings, resolve_secret
from inkbridge.errors import ConfigError

DEFAULT_FILE = Path("inkbridge.toml")
MAX_REPORTED = 5  # errors named in the one line; the rest are counted


class _Environment(EnvSettingsSource):
    """The ``INKBRIDGE_*`` variables of a given environment (the process's, or a test's)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ  # read by _load_env_vars during __init__
        super().__init__(Settings)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        # Settings are case-insensitive: variable names match fields in lower case.
        return {key.lower(): value for key, value in self._environ.items()}


def _read_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist")
    try:
        return TomlConfigSettingsSource(Settings, toml_file=path)()
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror}") from None


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def sandbox_connection_of(region: str, home_region: str) -> str:
    """The sandbox connection of a region in the sandbox defaults: ``sandbox`` for the home
    region (the one connection of a single-region setup), ``sandbox-<region>`` for the others."""
    return SANDBOX_CONNECTION if region == home_region else f"{SANDBOX_CONNECTION}-{region}"


def _secret_file(connection: str) -> str:
    return f"{connection}-webhook.secret"


def sandbox_defaults(
    data_dir: Path, regions: Sequence[str] = ("default",), home_region: str = "default"
) -> dict[str, Any]:
    """The configuration `inkbridge serve` uses when there is no file: a working sandbox, with a
    sandbox connection per region (each region's sandbox webhooks come in at its own) and the
    sandbox CRM and marketing tool declared for the home region."""
    connections = {}
    for region in regions:
        name = sandbox_connection_of(region, home_region)
        connections[name] = {
            "provider": "sandbox",
            "region": region,
            "secrets": [f"file:{data_dir / _secret_file(name)}"],
        }
    return {
        "sandbox": True,
        "connections": connections,
        "destinations": {
            "crm": {"kind": "sandbox_crm", "regions": [home_region]},
            "marketing": {"kind": "sandbox_marketing", "regions": [home_region]},
        },
        "templates": {
            "nda": {"title": "Mutual non-disclosure agreement", "version": 1},
            "msa": {"title": "Master services agreement", "version": 1},
        },
    }


def ensure_sandbox_secrets(
    data_dir: Path, regions: Sequence[str] = ("default",), home_region: str = "default"
) -> None:
    """Create the sandbox's webhook secrets once, readable by the owner only."""
    data_dir.mkdir(parents=True, exist_ok=True)
    names = [_secret_file(sandbox_connection_of(r, home_region)) for r in regions]
    for name in [*names, "sandbox-outbound.secret"]:
        path = data_dir / name
        if not path.exists():
            token = base64.b64encode(pysecrets.token_bytes(24)).decode()
            path.write_text("whsec_" + token, encoding="utf-8")
            path.chmod(0o600)


def _dotted(loc: Sequence[int | str]) -> str:
    """``("connections", "x", "secrets", 0)`` as ``connections.x.secrets[0]``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _model_at(loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The table (model) that holds the key at ``loc``: ``Settings`` for a top-level key,
    ``ConnectionSettings`` for ``connections.x.secret``."""
    model: type[BaseModel] = Settings
    parts = list(loc[:-1])
    while parts:
        field = model.model_fields.get(str(parts.pop(0)))
        annotation = field.annotation if field else None
        found: type[BaseModel] | None = None
        while annotation is not None and found is None:
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                found = annotation
            elif get_origin(annotation) in (dict, list):
                parts = parts[1:]  # the table's name, or the array's index
                annotation = get_args(annotation)[-1]
            else:  # X | None
                members = [arg for arg in get_args(annotation) if arg is not type(None)]
                annotation = members[0] if len(members) == 1 else None
        if found is None:
            return None
        model = found
    return model


def _suggestion(loc: Sequence[int | str]) -> str:
    model = _model_at(loc)
    if model is None or not loc:
        return ""
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _depth(tree: Mapping[str, Any], loc: Sequence[int | str]) -> int:
    """How many leading keys of ``loc`` the layer ``tree`` holds."""
    node: Any = tree
    for depth, part in enumerate(loc):
        if isinstance(part, int) or not isinstance(node, Mapping) or part not in node:
            return depth
        node = node[part]
    return len(loc)


class _Layers:
    """The layers that were merged, to say which one a wrong key came from."""

    def __init__(
        self,
        path: Path | None,
        file: Mapping[str, Any],
        environment: Mapping[str, Any],
        options: Mapping[str, Any],
    ) -> None:
        self.path = path
        self.file = file
        self.environment = environment
        self.options = options

    def origin(self, loc: Sequence[int | str]) -> str:
        keys = [part for part in loc if isinstance(part, str)]
        depths = {
            "options": _depth(self.options, loc),
            "environment": _depth(self.environment, loc),
            "file": _depth(self.file, loc),
        }
        deepest = max(depths, key=lambda layer: depths[layer])  # ties: the higher layer
        if depths[deepest] == 0 or deepest == "file":
            return str(self.path) if self.path else "sandbox defaults"
        if deepest == "options":
            return "command-line options"
        variable = ENV_PREFIX + "__".join(keys[: depths["environment"]]).upper()
        return f"environment {variable}"

    def explain(self, errors: Sequence[ErrorDetails]) -> str:
        named = [(self.origin(error["loc"]), _problem(error)) for error in errors[:MAX_REPORTED]]
        more = [f"and {len(errors) - MAX_REPORTED} more"] if len(errors) > MAX_REPORTED else []
        origins = {where for where, _ in named}
        if len(origins) == 1:
            return f"{origins.pop()}: " + "; ".join([problem for _, problem in named] + more)
        return "; ".join([f"{where}: {problem}" for where, problem in named] + more)


def _problem(error: ErrorDetails) -> str:
    loc = error["loc"]
    if error["type"] == "extra_forbidden":
        return f"unknown key {_dotted(loc)}{_suggestion(loc)}"
    message = error["msg"].removeprefix("Value error, ")
    return f"{_dotted(loc)}: {message}" if loc else message


def _config_path(path: Path | None, env: Mapping[str, str]) -> Path | None:
    if path is None and env.get(CONFIG_ENV):
        path = Path(env[CONFIG_ENV])
    if path is None and DEFAULT_FILE.exists():
        path = DEFAULT_FILE
    return path


def secret_problems(settings: Settings, environ: Mapping[str, str] | None = None) -> list[str]:
    """One line per secret reference that does not resolve, naming its key (never a value)."""
    env = dict(os.environ if environ is None else environ)
    problems = []
    for loc, reference in settings.secret_references():
        try:
            resolve_secret(reference, env)
        except ConfigError as exc:
            problems.append(f"{_dotted(loc)}: {exc}")
    return problems


def _check_secret_references(settings: Settings, env: Mapping[str, str], layers: _Layers) -> None:
    """Every secret a command may need resolves now, so no command starts with one missing."""
    for loc, reference in settings.secret_references():
        try:
            resolve_secret(reference, dict(env))
        except ConfigError as exc:
            raise ConfigError(f"{layers.origin(loc)}: {_dotted(loc)}: {exc}") from None


def load_settings(
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
    *,
    check_secrets: bool = True,
) -> Settings:
    """Read settings once: file (or the sandbox defaults), then environment, then overrides.
    ``check_secrets=False`` leaves unresolvable secrets to the caller (``secret_problems``)."""
    env = dict(os.environ if environ is None else environ)
    path = _config_path(path, env)
    file = _read_file(path) if path is not None else {}
    try:
        environment = _Environment(env)()
    except SettingsError as exc:
        raise ConfigError(f"environment {ENV_PREFIX}*: {exc}") from None
    options = overrides or {}
    raw = _merge(_merge(file, environment), options)
    if path is None:
        data_dir = Path(raw.get("data_dir", "inkbridge-data"))
        regions = raw.get("regions")
        names = list(regions) if isinstance(regions, Mapping) and regions else ["default"]
        home = str(raw.get("home_region", "default"))
        raw = _merge(sandbox_defaults(data_dir, names, home), raw)
        ensure_sandbox_secrets(data_dir, names, home)
    layers = _Layers(path, file, environment, options)
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        # `from None`: the validation error holds the input values, secrets among them.
        raise ConfigError(layers.explain(exc.errors())) from None
    if check_secrets:
        _check_secret_references(settings, env, layers)
    return settings
