"""The Django section of docs/hosts.md works as written: a project from ``django-admin
startproject``, the page's files saved verbatim, served by the page's uvicorn command.

Each fenced block with a ``title="mysite/..."`` in that section is written to that path of the
project (``mysite/jinja2.py`` too, although the project's settings do not name it, so that the
file at least imports). Then the project is migrated, a user is created, and the test signs in
through the admin's login form and calls the documented component.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.hosts.test_django import WAIT
from tests.servers import REPO_ROOT, UvicornServer, start_uvicorn

pytestmark = pytest.mark.uvicorn

HOSTS_PAGE = REPO_ROOT / "docs" / "hosts.md"
_TITLED_BLOCK = re.compile(r'^```\{\.\w+ title="([^"]+)"\}\n(.*?)^```$', re.MULTILINE | re.DOTALL)
PASSWORD = "docs-password-1"


def django_section() -> str:
    page = HOSTS_PAGE.read_text(encoding="utf-8")
    return page.split("\n## Django\n", 1)[1].split("\n## ", 1)[0]


def documented_files() -> dict[str, str]:
    """``{path: text}`` of the section's titled blocks."""
    return dict(_TITLED_BLOCK.findall(django_section()))


def documented_command() -> list[str]:
    """The uvicorn command of the section, without the secret key's variable."""
    match = re.search(r"^    uvicorn (\S+)$", django_section(), re.MULTILINE)
    assert match is not None, "the Django section lost its uvicorn command"
    return [match.group(1)]


def run(command: list[str], cwd: Path) -> None:
    environment = {key: value for key, value in os.environ.items()
                   if key != "DJANGO_SETTINGS_MODULE"}  # fmt: skip
    subprocess.run(command, cwd=cwd, env=environment, check=True, capture_output=True,
                   timeout=120)  # fmt: skip


@pytest.fixture(scope="module")
def documented_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UvicornServer]:
    root = tmp_path_factory.mktemp("django-docs")
    run([sys.executable, "-m", "django", "startproject", "mysite", str(root)], REPO_ROOT)
    for path, text in documented_files().items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
    run([sys.executable, "manage.py", "migrate", "--verbosity", "0"], root)
    create = "from django.contrib.auth.models import User; "
    create += f"User.objects.create_user('ada', password={PASSWORD!r}, is_staff=True)"
    run([sys.executable, "manage.py", "shell", "--command", create], root)
    application, *_ = documented_command()
    server = start_uvicorn(
        application,
        root,
        ["--app-dir", str(root)],
        env={"COMPONENT_FRAMEWORK_SECRET_KEY": "docs-project-key-0123456789abcdefghij"},
    )
    try:
        yield server
    finally:
        server.stop()


def test_the_section_documents_the_project_files() -> None:
    assert set(documented_files()) == {
        "mysite/asgi.py",
        "mysite/components.py",
        "mysite/templates/greeting.html",
        "mysite/jinja2.py",
    }


async def test_documented_project_greets_the_signed_in_django_user(
    documented_project: UvicornServer,
) -> None:
    async with httpx.AsyncClient(base_url=documented_project.base_url, timeout=WAIT) as client:
        anonymous = await client.post("/components/greeting/", json={})
        assert anonymous.status_code == 401, anonymous.text
        assert (await client.get("/static/admin/css/base.css")).status_code == 200

        form = await client.get("/admin/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        assert token is not None, form.text[:500]
        login = {"csrfmiddlewaretoken": token.group(1), "username": "ada", "password": PASSWORD}
        assert (await client.post("/admin/login/", data=login)).status_code == 302

        greeted = await client.post("/components/greeting/", json={})
        assert greeted.status_code == 200, greeted.text
        assert greeted.json()["html"].strip() == "<p>Hello ada</p>"
    assert "Traceback" not in documented_project.log()
