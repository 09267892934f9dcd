"""Settings: environment variables, key resolution and order, the random key, limits."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from component_framework.core import config
from component_framework.core.config import (
    ENV_DEBUG,
    ENV_SECRET_KEY,
    ENV_TRUST_CLIENT_STATE,
    Settings,
)
from component_framework.errors import ConfigurationError
from component_framework.protocol.snapshot import SnapshotError, SnapshotSigner

FIRST_KEY = "first-config-key-0123456789abcdef"
SECOND_KEY = "second-config-key-0123456789abcde"


@pytest.fixture
def fresh_process_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget the random process key, as if this were a new process."""
    monkeypatch.setattr(config, "_process_key", None)


# -- keys from the environment ------------------------------------------------------------


def test_from_env_splits_comma_separated_keys_in_order() -> None:
    settings = Settings.from_env({ENV_SECRET_KEY: f" {FIRST_KEY} , {SECOND_KEY} "})

    assert settings.secret_keys == (FIRST_KEY, SECOND_KEY)


def test_first_environment_key_signs() -> None:
    signer = Settings.from_env({ENV_SECRET_KEY: f"{FIRST_KEY},{SECOND_KEY}"}).build_signer()

    token = signer.sign("counter", "counter-1", {"count": 1})

    assert SnapshotSigner([FIRST_KEY]).verify(token, "counter").state == {"count": 1}


def test_second_environment_key_does_not_sign() -> None:
    signer = Settings.from_env({ENV_SECRET_KEY: f"{FIRST_KEY},{SECOND_KEY}"}).build_signer()

    token = signer.sign("counter", "counter-1", {"count": 1})

    with pytest.raises(SnapshotError) as excinfo:
        SnapshotSigner([SECOND_KEY]).verify(token, "counter")
    assert excinfo.value.problem == "unknown_key"


def test_second_environment_key_still_verifies() -> None:
    signer = Settings.from_env({ENV_SECRET_KEY: f"{FIRST_KEY},{SECOND_KEY}"}).build_signer()
    old_token = SnapshotSigner([SECOND_KEY]).sign("counter", "counter-1", {"count": 7})

    assert signer.verify(old_token, "counter").state == {"count": 7}


def test_from_env_reads_the_process_environment_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV_SECRET_KEY, FIRST_KEY)
    monkeypatch.setenv(ENV_DEBUG, "1")
    monkeypatch.setenv(ENV_TRUST_CLIENT_STATE, "true")

    settings = Settings.from_env()

    assert (settings.secret_keys, settings.debug, settings.trust_client_state) == (
        (FIRST_KEY,),
        True,
        True,
    )


def test_explicit_keys_as_one_string_are_split_like_the_environment() -> None:
    assert Settings(secret_keys=f"{FIRST_KEY},,{SECOND_KEY},").secret_keys == (
        FIRST_KEY,
        SECOND_KEY,
    )


def test_explicit_keys_as_a_list_become_a_tuple() -> None:
    settings = Settings(secret_keys=[FIRST_KEY, SECOND_KEY])  # type: ignore[arg-type]

    assert settings.secret_keys == (FIRST_KEY, SECOND_KEY)


def test_overrides_win_over_the_environment() -> None:
    settings = Settings.from_env({ENV_SECRET_KEY: FIRST_KEY, ENV_DEBUG: "1"}, debug=False)

    assert (settings.secret_keys, settings.debug) == ((FIRST_KEY,), False)


# -- flags --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "field"), [(ENV_DEBUG, "debug"), (ENV_TRUST_CLIENT_STATE, "trust_client_state")]
)
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", True),
        ("true", True),
        ("TRUE", True),
        (" yes ", True),
        ("on", True),
        ("0", False),
        ("false", False),
        ("no", False),
        ("off", False),
        ("", False),
        ("maybe", False),
    ],
)
def test_flag_variables_are_read(variable: str, field: str, value: str, expected: bool) -> None:
    settings = Settings.from_env({variable: value})

    assert getattr(settings, field) is expected


def test_flags_are_off_when_absent() -> None:
    settings = Settings.from_env({})

    assert (settings.debug, settings.trust_client_state) == (False, False)


def test_defaults_are_secure() -> None:
    settings = Settings()

    assert (settings.trust_client_state, settings.debug, settings.max_body_bytes) == (
        False,
        False,
        1024 * 1024,
    )


# -- the random process key ---------------------------------------------------------------


@pytest.mark.usefixtures("fresh_process_key")
def test_without_a_key_signers_of_one_process_agree() -> None:
    token = Settings.from_env({}).build_signer().sign("counter", "counter-1", {"count": 1})

    assert Settings.from_env({}).build_signer().verify(token, "counter").state == {"count": 1}


@pytest.mark.usefixtures("fresh_process_key")
def test_without_a_key_a_warning_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="component_framework")

    Settings.from_env({}).build_signer()
    Settings().build_signer()
    Settings(secret_keys="").build_signer()

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert ENV_SECRET_KEY in warnings[0].getMessage()
    assert "will not survive a restart" in warnings[0].getMessage()


@pytest.mark.usefixtures("fresh_process_key")
def test_with_a_key_no_warning_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="component_framework")

    Settings(secret_keys=(FIRST_KEY,)).build_signer()

    assert caplog.records == []


def test_random_key_of_another_process_rejects_this_processs_snapshots(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(config, "_process_key", None)
    token = Settings().build_signer().sign("counter", "counter-1", {})
    monkeypatch.setattr(config, "_process_key", None)  # a restart

    with pytest.raises(SnapshotError) as excinfo:
        Settings().build_signer().verify(token, "counter")

    assert excinfo.value.problem == "unknown_key"  # not "tampered": the key changed


# -- limits and keys ----------------------------------------------------------------------


@pytest.mark.parametrize("field", ["max_snapshot_bytes", "max_body_bytes", "max_json_depth"])
@pytest.mark.parametrize("value", [0, -1, 1.5, "10", None])
def test_invalid_limit_is_a_configuration_error(field: str, value: object) -> None:
    with pytest.raises(ConfigurationError, match=f"Settings.{field} must be a positive int"):
        Settings(**{field: value})  # type: ignore[arg-type]


def test_limits_reach_the_signer() -> None:
    signer = Settings(
        secret_keys=(FIRST_KEY,), snapshot_max_age=30, max_snapshot_bytes=512
    ).build_signer()

    assert (signer.max_age, signer.max_bytes) == (30, 512)


def test_too_short_key_is_a_configuration_error_when_building_the_signer() -> None:
    settings = Settings(secret_keys=("short",))

    with pytest.raises(ConfigurationError, match="invalid snapshot key configuration"):
        settings.build_signer()


def test_too_short_environment_key_is_a_configuration_error() -> None:
    settings = Settings.from_env({ENV_SECRET_KEY: f"{FIRST_KEY},tiny"})

    with pytest.raises(ConfigurationError, match="at least 16 bytes"):
        settings.build_signer()


def test_explicit_settings_without_keys_use_the_environment_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = "environment-key-for-explicit-settings"
    monkeypatch.setenv("COMPONENT_FRAMEWORK_SECRET_KEY", key)
    token = Settings(debug=True).build_signer().sign("c", "c-1", {})
    assert SnapshotSigner([key]).verify(token, "c").state == {}


def test_explicit_keys_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPONENT_FRAMEWORK_SECRET_KEY", "environment-key-that-must-lose")
    token = Settings(secret_keys="explicit-key-0123456789abcdef").build_signer().sign("c", "i", {})
    with pytest.raises(SnapshotError):
        SnapshotSigner(["environment-key-that-must-lose"]).verify(token, "c")


# -- the development key (debug only) --------------------------------------------------------


@pytest.fixture
def dev_key_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Where this test's development key goes; the process has read none yet."""
    path = tmp_path / config.DEV_KEY_FILE
    monkeypatch.setenv(config.ENV_DEV_KEY_FILE, str(path))
    monkeypatch.delenv(ENV_SECRET_KEY, raising=False)
    monkeypatch.setattr(config, "_development_keys", {})
    monkeypatch.setattr(config, "_process_key", None)
    return path


def test_debug_without_a_key_creates_a_private_development_key_and_says_where(
    dev_key_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="component_framework")

    token = Settings(debug=True).build_signer().sign("counter", "counter-1", {"count": 2})

    assert dev_key_file.stat().st_mode & 0o777 == 0o600
    assert len(dev_key_file.read_text().strip()) >= 32
    (record,) = caplog.records
    assert str(dev_key_file) in record.getMessage()
    assert "created" in record.getMessage()
    assert SnapshotSigner([dev_key_file.read_text().strip()]).verify(token, "counter")
    assert list(dev_key_file.parent.iterdir()) == [dev_key_file]  # no temporary file left


def test_the_development_key_survives_a_restart(
    dev_key_file: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    token = Settings(debug=True).build_signer().sign("counter", "counter-1", {"count": 2})
    monkeypatch.setattr(config, "_development_keys", {})  # a restart: the file is read again
    monkeypatch.setattr(config, "_process_key", None)
    caplog.set_level(logging.WARNING, logger="component_framework")

    assert Settings(debug=True).build_signer().verify(token, "counter").state == {"count": 2}
    assert "kept" in caplog.records[-1].getMessage()


def test_the_development_key_is_never_used_with_debug_off(dev_key_file: Path) -> None:
    token = Settings(debug=True).build_signer().sign("counter", "counter-1", {})

    with pytest.raises(SnapshotError) as excinfo:
        Settings(debug=False).build_signer().verify(token, "counter")

    assert excinfo.value.problem == "unknown_key"


def test_debug_off_writes_no_development_key(dev_key_file: Path) -> None:
    Settings(debug=False).build_signer()
    Settings.from_env({}).build_signer()

    assert not dev_key_file.exists()


def test_a_configured_key_wins_over_the_development_key(
    dev_key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    explicit = Settings(debug=True, secret_keys=(FIRST_KEY,)).build_signer()
    monkeypatch.setenv(ENV_SECRET_KEY, SECOND_KEY)
    from_env = Settings(debug=True).build_signer()

    assert not dev_key_file.exists()
    token = explicit.sign("counter", "counter-1", {})
    assert SnapshotSigner([FIRST_KEY]).verify(token, "counter")
    assert SnapshotSigner([SECOND_KEY]).verify(from_env.sign("c", "c-1", {}), "c")


def test_a_development_key_written_by_another_worker_first_is_used(dev_key_file: Path) -> None:
    dev_key_file.write_text("another-workers-development-key-0123456789\n")

    token = Settings(debug=True).build_signer().sign("counter", "counter-1", {})

    assert SnapshotSigner(["another-workers-development-key-0123456789"]).verify(token, "counter")


@pytest.mark.parametrize("content", ["", "short"])
def test_an_unusable_development_key_file_falls_back_to_the_process_key(
    dev_key_file: Path, content: str, caplog: pytest.LogCaptureFixture
) -> None:
    dev_key_file.write_text(content)
    caplog.set_level(logging.WARNING, logger="component_framework")

    signer = Settings(debug=True).build_signer()

    assert "cannot be used" in caplog.records[0].getMessage()
    assert "random key for this process" in caplog.records[-1].getMessage()
    assert dev_key_file.read_text() == content  # never overwritten
    token = signer.sign("counter", "counter-1", {})
    assert Settings().build_signer().verify(token, "counter")  # the process key
