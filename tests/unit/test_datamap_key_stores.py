"""The data map names where each region's key-encryption keys are kept when inkbridge manages
them (the key files under ``data_dir/keys/<region>``), and says which regions' data the mounted
sandbox CRM and marketing tool receive: only that of the destinations that use them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inkbridge.config import Settings
from inkbridge.privacy.configured_keys import region_keys
from inkbridge.privacy.field_cipher import new_key
from inkbridge.privacy.region_keys import encode_key
from inkbridge.services.datamap import data_map


def _settings(tmp_path: Path, **extra: Any) -> Settings:
    key = tmp_path / "us.key"
    key.write_text(encode_key(new_key()) + "\n")
    tree: dict[str, Any] = {
        "data_dir": str(tmp_path / "data"),
        "home_region": "eu",
        "sandbox": True,
        "regions": {"eu": {}, "us": {"key": f"file:{key}"}},
        "connections": {"sandbox": {"provider": "sandbox", "region": "eu", "secrets": ["env:S"]}},
        "destinations": {},
    }
    tree.update(extra)
    return Settings.model_validate(tree)


def _stores(settings: Settings) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in data_map(settings)["stores"]}


def test_a_region_with_a_managed_key_lists_its_key_directory_as_a_key_store(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)

    stores = _stores(settings)

    assert stores["keys:eu"] == {
        "name": "keys:eu",
        "kind": "key",
        "location": (tmp_path / "data" / "keys" / "eu").as_posix(),
        "regions": ["eu"],
        "holds": "the region's key-encryption keys (current, previous, retired)",
    }
    # A configured key is a secret reference: the operator's secret store keeps it.
    assert "keys:us" not in stores


def test_the_managed_key_file_is_written_where_the_map_says(tmp_path: Path) -> None:
    settings = _settings(tmp_path)

    region_keys(settings)

    written = {p.parent.as_posix() for p in (tmp_path / "data" / "keys").rglob("*.key")}
    assert written == {_stores(settings)["keys:eu"]["location"]}


def test_the_mounted_sandbox_crm_receives_only_the_regions_of_destinations_without_a_url(
    tmp_path: Path,
) -> None:
    settings = _settings(
        tmp_path,
        destinations={
            "crm_eu": {"kind": "sandbox_crm", "regions": ["eu"]},
            "crm_us": {"kind": "sandbox_crm", "url": "http://127.0.0.1:9/crm", "regions": ["us"]},
            "marketing_us": {
                "kind": "sandbox_marketing",
                "url": "http://127.0.0.1:9/marketing",
                "regions": ["us"],
            },
        },
    )

    stores = _stores(settings)

    assert stores["sandbox:crm"]["regions"] == ["eu"]
    assert stores["sandbox:marketing"]["regions"] == []


def test_a_destination_with_a_sandbox_twin_lists_the_twin_store_in_its_regions(
    tmp_path: Path,
) -> None:
    hook = {"kind": "webhook", "url": "https://hooks.example.com/in", "regions": ["us"]}
    settings = _settings(
        tmp_path,
        sandbox=False,
        destinations={"hook": {**hook, "golive_twin": "sandbox"}, "plain": hook},
    )
    stores = _stores(settings)
    twin = stores["sandbox:twin-hook"]
    assert twin["location"] == (tmp_path / "data" / "sandbox" / "twin-hook.db").as_posix()
    assert twin["regions"] == ["us"]
    assert "sandbox:twin-plain" not in stores
