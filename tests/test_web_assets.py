"""The vendored scripts are the registries' builds, unmodified: their hashes match the
table in console/static/vendor/README.md, and every page's assets are served locally."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from fastapi.testclient import TestClient

from tests.factories import World

VENDOR = Path(__file__).parent.parent / "console" / "static" / "vendor"
ROW = re.compile(r"^\| (\S+\.js) \|.*\| ([0-9a-f]{64}) \|$", re.M)


def test_vendored_files_match_their_recorded_hashes() -> None:
    rows = ROW.findall((VENDOR / "README.md").read_text(encoding="utf-8"))
    assert len(rows) >= 2
    for name, digest in rows:
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    listed = {name for name, _ in rows}
    present = {str(p.relative_to(VENDOR)) for p in VENDOR.rglob("*.js")}
    assert present == listed, "every vendored script is listed, and only those"
    for name in listed:
        assert (VENDOR / name).parent.joinpath("LICENSE").exists(), f"{name}: licence missing"


def test_vendored_assets_are_cached_and_ours_revalidated(world: World) -> None:
    client = TestClient(world.app)
    vendored = client.get("/static/vendor/htmx/htmx-2.0.11.min.js")
    assert vendored.status_code == 200
    assert "immutable" in vendored.headers["cache-control"]
    ours = client.get("/static/app.js")
    assert ours.headers["cache-control"] == "no-cache"
    assert (
        client.get("/static/app.js", headers={"If-None-Match": ours.headers["etag"]}).status_code
        == 304
    )
