"""Configuration: defaults -> TOML file -> ICSSIM_* environment -> explicit overrides.

DESIGN.md "Rules of the house", Config: read only in create_app / the CLI, in that order of precedence
(README "Configuration" lists the settings); the loader's contract (simulator/core/config.py): an
unknown setting is refused, and a value that cannot be turned into the field's type raises ValueError
naming the setting.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from simulator.core.config import SimConfig, config_to_json, load_config


def _toml(tmp_path: Path, text: str, name: str = "icssim.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_apply_when_nothing_is_configured() -> None:
    """DESIGN.md Config: with no file, environment or argument, every field keeps its default."""
    config = load_config(env={})
    assert config == SimConfig()
    assert config.clock_mode == "running"
    assert config.pull_redelivery_seconds == 300
    assert config.require_tls_party_match is True


def test_file_top_level_keys_override_defaults(tmp_path: Path) -> None:
    """DESIGN.md Config (defaults -> file): top-level TOML keys are field names, coerced to their type."""
    path = _toml(tmp_path, 'seed = 7\nvar_dir = "somewhere"\nclock_mode = "frozen"\nrequire_tls_party_match = false\n')
    config = load_config(path, env={})
    assert config.seed == 7
    assert config.var_dir == Path("somewhere")
    assert config.clock_mode == "frozen"
    assert config.require_tls_party_match is False
    assert config.trader_port == SimConfig().trader_port  # untouched fields keep their default


def test_file_simulator_table_is_read(tmp_path: Path) -> None:
    """DESIGN.md Config: a TOML file may hold the settings in a [simulator] table instead."""
    path = _toml(tmp_path, '[simulator]\nseed = 11\nmrn_country = "NL"\npull_max_deliveries = 5\n')
    config = load_config(path, env={})
    assert (config.seed, config.mrn_country, config.pull_max_deliveries) == (11, "NL", 5)


def test_environment_overrides_file(tmp_path: Path) -> None:
    """DESIGN.md Config (file -> ICSSIM_* env): the environment wins over the file, field by field."""
    path = _toml(tmp_path, "seed = 1\nthreads = 3\n")
    config = load_config(path, env={"ICSSIM_SEED": "2"})
    assert config.seed == 2
    assert config.threads == 3


def test_overrides_win_over_environment_and_none_means_not_given(tmp_path: Path) -> None:
    """DESIGN.md Config (env -> arguments): explicit overrides win; an override of None is not given."""
    path = _toml(tmp_path, "seed = 1\nthreads = 3\nworkers = 4\n")
    env = {"ICSSIM_SEED": "2", "ICSSIM_THREADS": "5"}
    config = load_config(path, env=env, overrides={"seed": 3, "threads": None})
    assert config.seed == 3
    assert config.threads == 5  # the None override left the environment's value
    assert config.workers == 4


def test_icssim_config_names_the_file(tmp_path: Path) -> None:
    """DESIGN.md Config: without an explicit file, ICSSIM_CONFIG names one."""
    path = _toml(tmp_path, "seed = 42\n")
    assert load_config(env={"ICSSIM_CONFIG": str(path)}).seed == 42


def test_explicit_file_wins_over_icssim_config(tmp_path: Path) -> None:
    """DESIGN.md Config: a file given as argument is the one read; ICSSIM_CONFIG is only the fallback."""
    named = _toml(tmp_path, "seed = 42\n", "env.toml")
    given = _toml(tmp_path, "seed = 43\n", "given.toml")
    assert load_config(given, env={"ICSSIM_CONFIG": str(named)}).seed == 43


def test_empty_environment_value_is_not_a_setting() -> None:
    """DESIGN.md Config: ICSSIM_X= (empty) leaves the default rather than setting an empty value."""
    config = load_config(env={"ICSSIM_SEED": "", "ICSSIM_MRN_COUNTRY": ""})
    assert config.seed == 0
    assert config.mrn_country == "BE"


def test_environment_values_are_coerced_to_field_types() -> None:
    """README "Configuration": env strings become ints, paths and booleans."""
    config = load_config(env={"ICSSIM_TRADER_PORT": "9443", "ICSSIM_PKI_DIR": "/tmp/pki-x",
                              "ICSSIM_REQUIRE_TLS_PARTY_MATCH": "no"})
    assert config.trader_port == 9443
    assert config.pki_dir == Path("/tmp/pki-x")
    assert config.require_tls_party_match is False


@pytest.mark.parametrize(("raw", "expected"), [
    ("1", True), ("true", True), ("YES", True), ("on", True),
    ("0", False), ("false", False), ("No", False), ("off", False),
])
def test_boolean_spellings(raw: str, expected: bool) -> None:
    """Config contract: booleans accept 1/0, true/false, yes/no, on/off (any case)."""
    assert load_config(env={"ICSSIM_REQUIRE_TLS_PARTY_MATCH": raw}).require_tls_party_match is expected


def test_unknown_key_in_file_is_refused(tmp_path: Path) -> None:
    """Config contract: an unknown setting in the file is refused and named."""
    path = _toml(tmp_path, "seed = 1\npull_redelivery = 30\n")
    with pytest.raises(ValueError, match="pull_redelivery"):
        load_config(path, env={})


def test_unknown_key_in_simulator_table_is_refused(tmp_path: Path) -> None:
    """Config contract: an unknown setting in the [simulator] table is refused and named."""
    path = _toml(tmp_path, "[simulator]\ncolour = 'blue'\n")
    with pytest.raises(ValueError, match="colour"):
        load_config(path, env={})


def test_unknown_override_is_refused() -> None:
    """Config contract: an unknown argument override is refused and named."""
    with pytest.raises(ValueError, match="no_such_setting"):
        load_config(env={}, overrides={"no_such_setting": 1})


def test_extra_is_not_settable_from_a_file(tmp_path: Path) -> None:
    """Config contract: `extra` is internal, not a setting a file may name."""
    path = _toml(tmp_path, "[simulator.extra]\nx = 1\n")
    with pytest.raises(ValueError, match="extra"):
        load_config(path, env={})


def test_bad_integer_in_environment_names_the_setting() -> None:
    """Config contract: a value that is not of the field's type is refused, naming the field."""
    with pytest.raises(ValueError, match="'threads'"):
        load_config(env={"ICSSIM_THREADS": "many"})


def test_bad_integer_in_file_names_the_setting(tmp_path: Path) -> None:
    """Config contract: the same check applies to file values."""
    path = _toml(tmp_path, 'pull_redelivery_seconds = "soon"\n')
    with pytest.raises(ValueError, match="'pull_redelivery_seconds'"):
        load_config(path, env={})


def test_bad_integer_override_names_the_setting() -> None:
    """Config contract: and to argument overrides."""
    with pytest.raises(ValueError, match="'trader_port'"):
        load_config(env={}, overrides={"trader_port": "https"})


@pytest.mark.parametrize(("name", "value"), [("journal_sync", "sometimes"), ("clock_mode", "stopped")])
def test_enumerated_setting_outside_its_values_is_refused(name: str, value: str) -> None:
    """README "Configuration": journal_sync is normal|full, clock_mode is running|frozen."""
    with pytest.raises(ValueError, match=name):
        load_config(env={f"ICSSIM_{name.upper()}": value})


def test_unrecognised_boolean_is_refused_not_read_as_false() -> None:
    """Config contract (a bad value is refused, naming the setting): a mistyped boolean such
    as "ture" must not silently switch a security check (require_tls_party_match, EBMS:0004/A001) off."""
    with pytest.raises(ValueError, match="require_tls_party_match"):
        load_config(env={"ICSSIM_REQUIRE_TLS_PARTY_MATCH": "ture"})


def test_derived_paths_follow_var_dir(tmp_path: Path) -> None:
    """README "Configuration": pki, database and token default to files under var_dir."""
    config = load_config(env={}, overrides={"var_dir": tmp_path / "var"})
    assert config.pki == tmp_path / "var" / "pki"
    assert config.token_file == tmp_path / "var" / "control-token"
    assert config.db_url == f"sqlite:///{(tmp_path / 'var' / 'icssim.db').resolve()}"


def test_db_url_is_absolute_for_a_relative_var_dir() -> None:
    """README "Configuration": the default SQLite URL is absolute, so every worker opens one file."""
    config = load_config(env={}, overrides={"var_dir": "relative/var"})
    path = config.db_url.removeprefix("sqlite:///")
    assert Path(path).is_absolute()
    assert path.endswith(os.path.join("relative", "var", "icssim.db"))


def test_explicit_pki_dir_and_database_url_win(tmp_path: Path) -> None:
    """README "Configuration": pki_dir and database_url replace the derived defaults."""
    config = load_config(env={"ICSSIM_DATABASE_URL": "postgresql://db/icssim"},
                         overrides={"var_dir": tmp_path, "pki_dir": tmp_path / "elsewhere"})
    assert config.pki == tmp_path / "elsewhere"
    assert config.db_url == "postgresql://db/icssim"


def test_worker_count_defaults_to_the_cpu_count() -> None:
    """README "Configuration": workers = 0 means one per core."""
    assert load_config(env={}).worker_count == (os.cpu_count() or 1)
    assert load_config(env={"ICSSIM_WORKERS": "3"}).worker_count == 3


@pytest.mark.parametrize(("host", "url"), [
    ("0.0.0.0", "https://127.0.0.1:8443"),
    ("::1", "https://[::1]:8443"),
    ("sim.example", "https://sim.example:8443"),
])
def test_trader_url_is_reachable_form_of_the_bind_address(host: str, url: str) -> None:
    """README "Configuration": a wildcard bind is reached on loopback; IPv6 hosts are bracketed."""
    assert load_config(env={"ICSSIM_TRADER_HOST": host}).trader_url == url


def test_control_url_is_plain_http_on_its_own_port() -> None:
    """DESIGN.md (control API on its own loopback listener, no TLS): http://host:control_port."""
    config = load_config(env={"ICSSIM_CONTROL_PORT": "9000"})
    assert config.control_url == "http://127.0.0.1:9000"


def test_config_to_json_round_trips_through_overrides(tmp_path: Path) -> None:
    """DESIGN.md Config: the resolved configuration handed to server processes rebuilds the same one."""
    original = load_config(env={}, overrides={"var_dir": tmp_path, "pki_dir": tmp_path / "pki", "seed": 9,
                                              "clock_mode": "frozen", "clock_start": "2025-01-01T00:00:00Z",
                                              "require_tls_party_match": False})
    as_json = config_to_json(original)
    assert as_json["var_dir"] == str(tmp_path)
    assert load_config(env={}, overrides=as_json) == original
