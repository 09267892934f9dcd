"""``scripts/system-deps.sh``: what demo.sh and test.sh install on a machine that lacks it.

Each test runs the real script, copied into an empty directory (no ``.venv``), with a ``PATH``
made only of a temporary ``bin`` folder: stand-ins for ``id`` (root or not), ``apt-get`` (records
its arguments; "installing" a package puts its command into the folder), ``sudo`` and
``python3``, and links to the real ``env``. So "missing" means missing from that folder, and
nothing is installed on, or removed from, this machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "system-deps.sh"
BASH = shutil.which("bash") or "/bin/bash"
TEST_COMMANDS = ["redis-server", "initdb", "chromium", "node", "npm", "nginx"]


@dataclass
class Machine:
    """A pretend machine: its ``bin`` folder and the log of every ``apt-get`` call."""

    root: Path
    bin: Path
    apt_log: Path

    def add(self, name: str, body: str = "exit 0") -> None:
        """Put an executable ``name`` into ``bin``."""
        path = self.bin / name
        path.write_text(f"#!{BASH}\n{body}\n")
        path.chmod(0o755)

    def apt_calls(self) -> list[str]:
        return self.apt_log.read_text().splitlines() if self.apt_log.exists() else []

    def run(self, purpose: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [BASH, str(self.root / "scripts" / "system-deps.sh"), purpose],
            env={
                "PATH": str(self.bin),
                "HOME": str(self.root),
                "SYSTEM_DEPS_SBIN": str(self.bin),
                "SYSTEM_DEPS_PGLIB": str(self.root / "pglib"),  # not this machine's
            },
            stdin=subprocess.DEVNULL,  # not a terminal: sudo could not ask for a password
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    root = tmp_path / "clone"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(SCRIPT, root / "scripts" / "system-deps.sh")
    machine = Machine(root, tmp_path / "bin", tmp_path / "apt.log")
    machine.bin.mkdir()
    (machine.bin / "env").symlink_to(shutil.which("env") or "/usr/bin/env")
    (machine.bin / "python3").symlink_to(sys.executable)  # 3.11+, with venv and ensurepip
    machine.add("id", "echo 1000  # not root")
    # apt-get: log the call; "installing" a package puts its command into bin.
    chmod = shutil.which("chmod") or "/bin/chmod"
    machine.add(
        "apt-get",
        f'echo "$*" >> "{machine.apt_log}"\n'
        '[ "$1" = install ] || exit 0\n'
        'for package in "$@"; do\n'
        '  case "$package" in\n'
        "    nodejs) command=node ;;\n"
        "    postgresql) command=initdb ;;\n"
        '    redis-server | chromium | npm | nginx) command="$package" ;;\n'
        "    *) continue ;;\n"
        "  esac\n"
        f'  printf "#!{BASH}\\nexit 0\\n" > "{machine.bin}/$command"\n'
        f'  {chmod} 755 "{machine.bin}/$command"\n'
        "done",
    )
    return machine


def with_test_commands(machine: Machine, *absent: str) -> Machine:
    for command in TEST_COMMANDS:
        if command not in absent:
            machine.add(command)
    return machine


def test_nothing_missing_means_no_apt_get(machine: Machine) -> None:
    result = with_test_commands(machine).run("test")
    assert result.returncode == 0, result.stderr
    assert machine.apt_calls() == []


def test_as_root_it_updates_then_installs_only_what_is_missing(machine: Machine) -> None:
    with_test_commands(machine, *TEST_COMMANDS)
    machine.add("id", "echo 0")
    result = machine.run("test")
    assert result.returncode == 0, result.stderr
    packages = "redis-server postgresql chromium nodejs npm nginx"
    assert machine.apt_calls() == [
        "update -qq",
        f"install -y -qq --no-install-recommends {packages}",
    ]
    assert f"Installing the missing system packages: {packages}" in result.stdout


def test_without_root_or_sudo_one_message_names_packages_and_command(machine: Machine) -> None:
    result = with_test_commands(machine, "redis-server", "chromium").run("test")
    assert result.returncode == 1
    assert machine.apt_calls() == []
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "scripts/test.sh needs these system packages, which are missing:",
        "    redis-server chromium",
        "Install them as root (this user is not root and cannot use sudo here), then run",
        "scripts/test.sh again:",
        "    apt-get update && apt-get install -y --no-install-recommends redis-server chromium",
    ]


def test_sudo_that_needs_a_password_without_a_terminal_counts_as_no_sudo(
    machine: Machine,
) -> None:
    machine.add("sudo", 'echo "sudo: a password is required" >&2; exit 1')
    result = with_test_commands(machine, "npm").run("test")
    assert result.returncode == 1
    assert "apt-get install -y --no-install-recommends npm" in result.stderr
    assert machine.apt_calls() == []


def test_usable_sudo_installs_through_sudo(machine: Machine) -> None:
    sudo_log = machine.root / "sudo.log"
    machine.add(
        "sudo",
        f'echo "$*" >> "{sudo_log}"\n[ "$*" = "-n true" ] && exit 0\nexec "$@"',
    )
    result = with_test_commands(machine, "node").run("test")
    assert result.returncode == 0, result.stderr
    assert machine.apt_calls()[-1] == "install -y -qq --no-install-recommends nodejs"
    assert sudo_log.read_text().splitlines()[1:] == [
        "env DEBIAN_FRONTEND=noninteractive apt-get update -qq",
        "env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs",
    ]


def test_the_demo_needs_only_python_with_venv(machine: Machine) -> None:
    result = machine.run("demo")  # no redis-server, chromium, node or npm at all
    assert result.returncode == 0, result.stderr
    assert machine.apt_calls() == []


def test_a_python_without_venv_gets_python3_venv(machine: Machine) -> None:
    (machine.bin / "python3").unlink()
    # A Debian python3 without python3-venv: imports fail for ensurepip, the version is fine.
    machine.add("python3", 'case "$*" in *ensurepip*) exit 1 ;; *) exit 0 ;; esac')
    machine.add("id", "echo 0")
    result = machine.run("demo")
    assert machine.apt_calls()[-1] == "install -y -qq --no-install-recommends python3-venv"
    # The stand-in apt-get cannot really add the venv module, so the script says so.
    assert result.returncode == 1
    assert "still missing after apt-get install: python3 with venv" in result.stderr


def test_no_python_at_all_gets_python3_and_venv(machine: Machine) -> None:
    (machine.bin / "python3").unlink()
    result = machine.run("demo")
    assert result.returncode == 1
    assert "    python3 python3-venv" in result.stderr.splitlines()


def test_an_existing_venv_needs_no_system_python(machine: Machine) -> None:
    (machine.bin / "python3").unlink()
    venv_python = machine.root / ".venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    venv_python.symlink_to(sys.executable)
    result = machine.run("demo")
    assert result.returncode == 0, result.stderr


def test_an_old_python_is_a_clear_error(machine: Machine) -> None:
    (machine.bin / "python3").unlink()
    machine.add("python3", 'case "$*" in *version_info*) exit 1 ;; *) exit 0 ;; esac')
    result = machine.run("demo")
    assert result.returncode == 1
    assert "older than 3.11" in result.stderr
    assert machine.apt_calls() == []


def test_without_apt_get_it_names_the_packages(machine: Machine) -> None:
    (machine.bin / "apt-get").unlink()
    result = with_test_commands(machine, "chromium").run("test")
    assert result.returncode == 1
    assert "    chromium" in result.stderr.splitlines()
    assert "no apt-get" in result.stderr


def test_an_install_that_does_not_provide_the_command_fails(machine: Machine) -> None:
    machine.add("id", "echo 0")
    machine.add("apt-get", f'echo "$*" >> "{machine.apt_log}"')  # installs nothing
    result = with_test_commands(machine, "redis-server").run("test")
    assert result.returncode == 1
    assert "still missing after apt-get install: redis-server" in result.stderr


def test_an_unknown_purpose_is_a_usage_error(machine: Machine) -> None:
    assert machine.run("everything").returncode == 2


def test_the_scripts_call_it_before_their_set_up() -> None:
    for script, purpose in [("test.sh", "test"), ("demo.sh", "demo")]:
        text = (REPO_ROOT / "scripts" / script).read_text()
        call = f"bash scripts/system-deps.sh {purpose}\n"
        assert call in text
        assert text.index(call) < text.index("bash scripts/setup.sh")
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert ci.index("bash scripts/system-deps.sh test\n") < ci.index("bash scripts/setup.sh dev")
    assert os.access(REPO_ROOT / "scripts" / "system-deps.sh", os.X_OK)


def test_postgresql_in_debians_versioned_directory_counts_as_present(machine: Machine) -> None:
    with_test_commands(machine, "initdb")
    initdb = machine.root / "pglib" / "15" / "bin" / "initdb"
    initdb.parent.mkdir(parents=True)
    initdb.write_text(f"#!{BASH}\nexit 0\n")
    initdb.chmod(0o755)

    result = machine.run("test")

    assert result.returncode == 0, result.stderr
    assert machine.apt_calls() == []


def test_missing_postgresql_is_installed_as_the_postgresql_package(machine: Machine) -> None:
    with_test_commands(machine, "initdb")
    machine.add("id", "echo 0")

    result = machine.run("test")

    assert result.returncode == 0, result.stderr
    assert machine.apt_calls()[-1] == "install -y -qq --no-install-recommends postgresql"


def test_nginx_outside_path_counts_as_present_and_missing_nginx_is_installed(
    machine: Machine,
) -> None:
    with_test_commands(machine, "nginx")
    machine.add("id", "echo 0")
    result = machine.run("test")
    assert result.returncode == 0, result.stderr
    assert machine.apt_calls()[-1] == "install -y -qq --no-install-recommends nginx"
    # Installed now (in the pretend sbin): nothing more to do.
    assert machine.run("test").returncode == 0
    assert len(machine.apt_calls()) == 2
