"""The browser files under ``/_static/`` (the runtime minified and as source, its source map, its
types, htmx and its extensions from the shipped copies or a configured folder: cached, with ETag)
and the page's script tags (the minified runtime, or its source in debug mode)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import pytest

from component_framework import ComponentASGI
from component_framework.asgi.static import (
    BUNDLED_VENDOR_DIRECTORY,
    STATIC_DIRECTORY,
    VENDOR_SCRIPTS,
    StaticFiles,
)
from component_framework.asgi.static import RUNTIME as SOURCE_NAME
from component_framework.asgi.static import RUNTIME_MINIFIED as RUNTIME_NAME
from component_framework.core.config import ENV_VENDOR_DIRECTORY, Settings
from component_framework.testing import asgi_request

RUNTIME = "/components/_static/component-framework.min.js"
SOURCE = "/components/_static/component-framework.js"


@pytest.mark.parametrize("path", [RUNTIME, SOURCE])
async def test_runtime_is_served_with_caching_headers(
    components_app: ComponentASGI, path: str
) -> None:
    answer = await asgi_request(components_app, "GET", path)
    assert answer.status == 200
    assert answer.header("content-type") == "text/javascript; charset=utf-8"
    assert answer.header("cache-control") == "public, max-age=3600"
    assert answer.body == (STATIC_DIRECTORY / path.rsplit("/", 1)[1]).read_bytes()
    assert b"htmx:sseOpen" in answer.body


async def test_minified_runtime_names_its_source_map_which_names_the_source(
    components_app: ComponentASGI,
) -> None:
    runtime = await asgi_request(components_app, "GET", RUNTIME)
    assert runtime.text.endswith("\n//# sourceMappingURL=component-framework.min.js.map")
    source_map = await asgi_request(
        components_app, "GET", "/components/_static/component-framework.min.js.map"
    )
    assert source_map.status == 200
    assert source_map.header("content-type") == "application/json; charset=utf-8"
    assert source_map.json()["sources"] == [SOURCE_NAME]
    assert len(runtime.body) < len((STATIC_DIRECTORY / SOURCE_NAME).read_bytes()) // 2


async def test_matching_etag_answers_304_without_body(components_app: ComponentASGI) -> None:
    first = await asgi_request(components_app, "GET", RUNTIME)
    etag = first.header("etag")
    assert etag is not None
    again = await asgi_request(components_app, "GET", RUNTIME, headers={"If-None-Match": etag})
    assert again.status == 304
    assert again.body == b""


async def test_head_gives_headers_only(components_app: ComponentASGI) -> None:
    answer = await asgi_request(components_app, "HEAD", RUNTIME)
    assert answer.status == 200
    assert answer.body == b""
    assert int(answer.header("content-length") or 0) > 0


@pytest.mark.parametrize(
    "name",
    ["missing.js", "..%2Fapp.py", ".hidden.js", "component-framework.py", "__init__.py"],
)
async def test_anything_but_a_runtime_file_is_404(components_app: ComponentASGI, name: str) -> None:
    answer = await asgi_request(components_app, "GET", f"/components/_static/{name}")
    assert answer.status == 404
    assert answer.json()["error"]["code"] == "not_found"


async def test_static_files_are_read_only(components_app: ComponentASGI) -> None:
    answer = await asgi_request(components_app, "POST", RUNTIME, json={})
    assert answer.status == 405
    assert answer.header("allow") == "GET, HEAD"


# -- versioned URLs, vendor scripts and the page's script tags ---------------------------------

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
NODE_MODULES = REPO_ROOT / "node_modules"
KEY = "static-test-key-0123456789abcdef0123"


def vendor_app(vendor_directory: Path | None = NODE_MODULES) -> ComponentASGI:
    return ComponentASGI(settings=Settings(secret_keys=KEY, vendor_directory=vendor_directory))


async def test_runtime_url_with_its_version_may_be_cached_for_a_year() -> None:
    app = vendor_app()
    version = app.static.version(RUNTIME_NAME)
    body = (STATIC_DIRECTORY / RUNTIME_NAME).read_bytes()
    assert version == hashlib.sha256(body).hexdigest()[:12]
    answer = await asgi_request(app, "GET", RUNTIME, query={"v": version})
    assert answer.status == 200
    assert answer.header("cache-control") == "public, max-age=31536000, immutable"


async def test_runtime_url_with_a_stale_version_is_cached_briefly() -> None:
    answer = await asgi_request(vendor_app(), "GET", RUNTIME, query={"v": "000000000000"})
    assert answer.status == 200
    assert answer.header("cache-control") == "public, max-age=3600"


async def test_type_declarations_are_served_as_text() -> None:
    answer = await asgi_request(vendor_app(), "GET", "/components/_static/component-framework.d.ts")
    assert answer.status == 200
    assert answer.header("content-type") == "text/plain; charset=utf-8"
    assert b"interface ComponentFrameworkRuntime" in answer.body


@pytest.mark.parametrize("name", sorted(VENDOR_SCRIPTS))
async def test_vendor_scripts_are_served_from_the_configured_folder(name: str) -> None:
    answer = await asgi_request(vendor_app(), "GET", f"/components/_static/{name}")
    assert answer.status == 200
    assert answer.header("content-type") == "text/javascript; charset=utf-8"
    assert answer.body == (NODE_MODULES / VENDOR_SCRIPTS[name].path).read_bytes()


@pytest.mark.parametrize("name", sorted(VENDOR_SCRIPTS))
async def test_vendor_scripts_are_served_from_the_shipped_copies_by_default(name: str) -> None:
    answer = await asgi_request(vendor_app(None), "GET", f"/components/_static/{name}")
    assert answer.status == 200
    assert answer.header("content-type") == "text/javascript; charset=utf-8"
    assert answer.body == (BUNDLED_VENDOR_DIRECTORY / VENDOR_SCRIPTS[name].path).read_bytes()


@pytest.mark.parametrize("name", ["LICENSE", "htmx.org", "vendor", "htmx.js"])
async def test_nothing_else_of_the_shipped_copies_is_reachable(name: str) -> None:
    answer = await asgi_request(vendor_app(None), "GET", f"/components/_static/{name}")
    assert answer.status == 404


async def test_vendor_folder_without_the_packages_gives_404(tmp_path: Path) -> None:
    answer = await asgi_request(vendor_app(tmp_path), "GET", "/components/_static/htmx.min.js")
    assert answer.status == 404
    assert answer.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("name", ["htmx.js", "hx-sse.js", "htmx-2-compat.min.js", "htmx4"])
async def test_only_the_pinned_vendor_scripts_are_reachable_in_the_vendor_folder(
    name: str,
) -> None:
    answer = await asgi_request(vendor_app(), "GET", f"/components/_static/{name}")
    assert answer.status == 404


def _integrity(path: Path) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(path.read_bytes()).digest()).decode()


@pytest.mark.parametrize("name", sorted(VENDOR_SCRIPTS))
def test_pinned_integrity_matches_the_installed_package(name: str) -> None:
    script = VENDOR_SCRIPTS[name]
    assert _integrity(NODE_MODULES / script.path) == script.integrity


@pytest.mark.parametrize("name", sorted(VENDOR_SCRIPTS))
def test_shipped_copies_are_the_pinned_releases_with_their_licence(name: str) -> None:
    # The package ships these files so that pages work offline with no npm; each must be the
    # unmodified file of the npm release (its published sha384), under its own 0BSD licence.
    script = VENDOR_SCRIPTS[name]
    assert _integrity(BUNDLED_VENDOR_DIRECTORY / script.path) == script.integrity
    licence = (BUNDLED_VENDOR_DIRECTORY / script.package / "LICENSE").read_text()
    assert re.search(r"Zero.Clause BSD|BSD Zero Clause", licence)


def test_pinned_versions_are_the_ones_package_json_installs() -> None:
    wanted = json.loads((REPO_ROOT / "package.json").read_text())["dependencies"]
    assert {script.package for script in VENDOR_SCRIPTS.values()} == set(wanted)
    for script in VENDOR_SCRIPTS.values():
        installed = json.loads((NODE_MODULES / script.package / "package.json").read_text())
        # htmx 4 is installed beside htmx 2 under an npm alias: "htmx4": "npm:htmx.org@4.0.1".
        pinned = wanted[script.package].removeprefix(f"npm:{installed['name']}@")
        assert pinned == installed["version"] == script.version


def test_script_tags_point_at_local_copies_when_a_vendor_folder_is_set() -> None:
    app = vendor_app()
    tags = app.script_tags()
    version = app.static.version(RUNTIME_NAME)
    assert tags.splitlines() == [
        '<script src="/components/_static/htmx.min.js"></script>',
        '<script src="/components/_static/sse.min.js"></script>',
        '<script src="/components/_static/ws.min.js"></script>',
        f'<script src="/components/_static/component-framework.min.js?v={version}"></script>',
    ]


def test_script_tags_are_local_by_default_too() -> None:
    tags = vendor_app(None).script_tags(ws=False).splitlines()
    assert tags[:2] == [
        '<script src="/components/_static/htmx.min.js"></script>',
        '<script src="/components/_static/sse.min.js"></script>',
    ]
    assert re.fullmatch(
        r'<script src="/components/_static/component-framework\.min\.js\?v=[0-9a-f]{12}"></script>',
        tags[2],
    )
    assert len(tags) == 3


def test_script_tags_follow_the_public_prefix() -> None:
    tags = vendor_app().script_tags(sse=False, ws=False, url_prefix="/ui/components/")
    assert tags.splitlines()[0] == '<script src="/ui/components/_static/htmx.min.js"></script>'
    assert "/ui/components/_static/component-framework.min.js?v=" in tags


def test_script_tags_load_the_readable_runtime_in_debug_mode() -> None:
    app = ComponentASGI(settings=Settings(secret_keys=KEY, debug=True))
    version = app.static.version(SOURCE_NAME)
    assert version == hashlib.sha256((STATIC_DIRECTORY / SOURCE_NAME).read_bytes()).hexdigest()[:12]
    assert app.script_tags().splitlines()[-1] == (
        f'<script src="/components/_static/component-framework.js?v={version}"></script>'
    )


def test_vendor_folder_comes_from_the_environment(tmp_path: Path) -> None:
    settings = Settings.from_env({ENV_VENDOR_DIRECTORY: str(tmp_path)})
    assert settings.vendor_directory == tmp_path
    assert Settings.from_env({ENV_VENDOR_DIRECTORY: "  "}).vendor_directory is None
    assert Settings.from_env({}).vendor_directory is None


def test_static_files_keep_each_file_after_the_first_read(tmp_path: Path) -> None:
    (tmp_path / "tool.js").write_text("one")
    files = StaticFiles(tmp_path)
    first = files.version("tool.js")
    (tmp_path / "tool.js").write_text("two")
    assert files.version("tool.js") == first


def test_script_tags_for_htmx_4_load_htmx_4_and_its_own_extensions() -> None:
    app = vendor_app(None)
    tags = app.script_tags(htmx=4).splitlines()
    version = app.static.version(RUNTIME_NAME)
    assert tags == [
        '<script src="/components/_static/htmx4.min.js"></script>',
        '<script src="/components/_static/hx-sse.min.js"></script>',
        '<script src="/components/_static/hx-ws.min.js"></script>',
        f'<script src="/components/_static/component-framework.min.js?v={version}"></script>',
    ]
    assert app.script_tags(htmx=4, sse=False, ws=False).splitlines()[0] == tags[0]


async def test_htmx_4_files_are_the_release_beside_htmx_2() -> None:
    app = vendor_app(None)
    htmx2 = await asgi_request(app, "GET", "/components/_static/htmx.min.js")
    htmx4 = await asgi_request(app, "GET", "/components/_static/htmx4.min.js")
    assert b"defineExtension" in htmx2.body
    assert b"registerExtension" in htmx4.body
    assert b'version="4.0.1"' in htmx4.body.replace(b"'", b'"').replace(b" ", b"")


@pytest.mark.parametrize("htmx", [1, 3, "4", True, None])
def test_script_tags_refuse_an_htmx_version_they_do_not_ship(htmx: object) -> None:
    with pytest.raises(ValueError, match=r"htmx must be 2 or 4, got"):
        vendor_app(None).script_tags(htmx=htmx)  # type: ignore[arg-type]
