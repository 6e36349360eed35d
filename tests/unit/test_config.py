"""Channel files: loading, validation errors located at file:line:col, units, the CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.config import ConfigErrors, load_channels, load_settings, parse_channel
from engine.connector import StepConfig
from engine.errors import ConfigError
from engine.units import parse_duration, parse_size

REPO = Path(__file__).resolve().parents[2]

GOOD = """\
description: ADT feed from the registration system
name: adt-in
source:
  type: mllp
  port: 2575
destinations:
  - name: ehr
    type: mllp
    host: ehr.local
    port: 6661
  - name: archive
    type: file
    directory: /var/plexus/archive
"""


def at(text: str, needle: str, occurrence: int = 1) -> tuple[int, int]:
    """1-based line and column of the n-th occurrence of needle in text."""
    index = -1
    for _ in range(occurrence):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, column


def errors_of(text: str, env: dict[str, str] | None = None) -> list[ConfigError]:
    """The errors parse_channel raises for text (one or several)."""
    with pytest.raises(ConfigError) as info:
        parse_channel(text, "chan.yaml", {} if env is None else env)
    exc = info.value
    errors = exc.errors if isinstance(exc, ConfigErrors) else [exc]
    for error in errors:
        assert error.file == "chan.yaml"
    return errors


def only_error(text: str, env: dict[str, str] | None = None) -> ConfigError:
    errors = errors_of(text, env)
    assert len(errors) == 1, [str(e) for e in errors]
    return errors[0]


def where(error: ConfigError) -> tuple[int | None, int | None]:
    return error.line, error.column


# -- a good channel ----------------------------------------------------------------------


def test_good_channel_parses_with_defaults() -> None:
    channel = parse_channel(GOOD, "chan.yaml", {})
    assert channel.name == "adt-in"
    assert channel.enabled is True
    assert channel.source.type == "mllp"
    assert channel.source.port == 2575
    assert channel.source.idle_timeout == 300.0
    assert [d.name for d in channel.destinations] == ["ehr", "archive"]
    assert [d.type for d in channel.destinations] == ["mllp", "file"]
    ehr = channel.destinations[0]
    assert (ehr.host, ehr.port, ehr.ordered) == ("ehr.local", 6661, False)
    assert ehr.retry.attempts == 10
    assert channel.filters == [] and channel.transforms == []
    assert channel.retention.content == 30 * 86400.0
    assert channel.retention.metadata == 365 * 86400.0


def test_http_destination_is_known() -> None:
    text = GOOD + "  - name: fhir\n    type: http\n    url: https://fhir.local/Patient\n"
    channel = parse_channel(text, "chan.yaml", {})
    assert channel.destinations[2].type == "http"
    assert channel.destinations[2].url == "https://fhir.local/Patient"


# -- located validation errors ---------------------------------------------------------


def test_unknown_top_level_key() -> None:
    text = GOOD + "colour: blue\n"
    error = only_error(text)
    assert where(error) == at(text, "colour") == (14, 1)
    assert "unknown key 'colour'" in error.message


def test_unknown_key_inside_source() -> None:
    text = GOOD.replace("  port: 2575\n", "  port: 2575\n  colour: blue\n")
    error = only_error(text)
    assert where(error) == at(text, "colour") == (6, 3)
    assert "source.colour" in error.message
    assert "unknown key 'colour'" in error.message


def test_unknown_key_inside_the_second_destination() -> None:
    text = GOOD.replace("    directory: /var/plexus/archive\n",
                        "    directory: /var/plexus/archive\n    speed: 3\n")
    error = only_error(text)
    assert where(error) == at(text, "speed") == (14, 5)
    assert "destinations.1.speed" in error.message
    assert "unknown key 'speed'" in error.message


def test_wrong_type_points_at_the_field() -> None:
    text = GOOD.replace("port: 2575", 'port: "abc"')
    error = only_error(text)
    assert where(error) == at(text, 'port: "abc"') == (5, 3)
    assert "source.port" in error.message
    assert "integer" in error.message


def test_out_of_range_port_in_a_destination() -> None:
    text = GOOD.replace("port: 6661", "port: 70000")
    error = only_error(text)
    assert where(error) == at(text, "port: 70000")
    assert "destinations.0.port" in error.message


def test_missing_destinations() -> None:
    text = GOOD.split("destinations:")[0]
    error = only_error(text)
    assert "missing required key 'destinations'" in error.message
    assert where(error) == (1, 1)


def test_empty_destinations() -> None:
    text = GOOD.split("destinations:")[0] + "destinations: []\n"
    error = only_error(text)
    assert where(error) == at(text, "destinations")
    assert "destinations" in error.message


def test_missing_key_inside_a_destination_points_at_it() -> None:
    text = GOOD.replace("    host: ehr.local\n", "")
    error = only_error(text)
    assert "missing required key 'host'" in error.message
    assert where(error) == at(text, "name: ehr")


def test_bad_channel_name() -> None:
    text = GOOD.replace("name: adt-in", "name: ADT_In")
    error = only_error(text)
    assert where(error) == at(text, "name: ADT_In") == (2, 1)
    assert "pattern" in error.message


def test_bad_destination_name() -> None:
    text = GOOD.replace("name: archive", "name: Archive!")
    error = only_error(text)
    assert where(error) == at(text, "name: Archive!")
    assert "destinations.1.name" in error.message


def test_unknown_source_and_destination_types() -> None:
    text = GOOD.replace("type: mllp\n  port", "type: pigeon\n  port")
    error = only_error(text)
    assert where(error) == at(text, "type: pigeon")
    text = GOOD.replace("type: file", "type: ftp")
    error = only_error(text)
    assert where(error) == at(text, "type: ftp")
    assert "ftp" in error.message


def test_several_errors_are_all_reported() -> None:
    text = GOOD.replace("port: 2575", "port: abc") + "colour: blue\n"
    errors = errors_of(text)
    assert sorted(where(e) for e in errors) == sorted([at(text, "port: abc"),
                                                       at(text, "colour")])


def test_duplicate_destination_names() -> None:
    text = GOOD.replace("name: archive", "name: ehr")
    error = only_error(text)
    assert where(error) == at(text, "name: ehr", occurrence=2) == (11, 5)
    assert "'ehr' is used twice" in error.message


def test_duplicate_yaml_key() -> None:
    text = GOOD + "name: again\n"
    error = only_error(text)
    assert where(error) == at(text, "name: again")
    assert "duplicate key 'name'" in error.message


def test_yaml_syntax_error() -> None:
    text = "name: adt-in\nsource: {type: mllp, port: 2575\ndestinations: []\n"
    error = only_error(text)
    assert error.message.startswith("YAML syntax error")
    assert error.line is not None and error.line >= 2
    assert error.column is not None


def test_yaml_syntax_error_bad_indentation_line() -> None:
    text = "name: adt-in\nsource:\n  type: mllp\n port: 2575\n"
    error = only_error(text)
    assert error.message.startswith("YAML syntax error")
    assert error.line == 4


def test_a_channel_file_is_a_mapping() -> None:
    error = only_error("- name: adt-in\n")
    assert where(error) == (1, 1)


# -- environment variables ---------------------------------------------------------


def test_missing_env_var_without_default() -> None:
    text = GOOD.replace("ehr.local", "${NOPE}")
    error = only_error(text, {})
    assert where(error) == at(text, "${NOPE}") == (9, 11)
    assert "NOPE" in error.message


def test_env_var_default_and_value() -> None:
    text = GOOD.replace("ehr.local", "${NOPE:-fallback.local}").replace(
        "port: 6661", "port: ${EHR_PORT:-6661}")
    channel = parse_channel(text, "chan.yaml", {})
    assert channel.destinations[0].host == "fallback.local"
    assert channel.destinations[0].port == 6661
    channel = parse_channel(text, "chan.yaml", {"NOPE": "set.local", "EHR_PORT": "7000"})
    assert channel.destinations[0].host == "set.local"
    assert channel.destinations[0].port == 7000
    # an empty value takes the default
    channel = parse_channel(text, "chan.yaml", {"NOPE": ""})
    assert channel.destinations[0].host == "fallback.local"


def test_env_var_inside_a_longer_string() -> None:
    text = GOOD.replace("/var/plexus/archive", "${ROOT:-/data}/archive/${SITE}")
    channel = parse_channel(text, "chan.yaml", {"SITE": "north"})
    assert channel.destinations[1].directory == "/data/archive/north"


def test_env_var_unquoted_in_a_flow_mapping() -> None:
    """`{directory: ${OUT_DIR}}` as the issue writes it: braces of the token are no YAML."""
    block = "  - name: archive\n    type: file\n    directory: /var/plexus/archive\n"
    flow = ('  - {name: archive, type: file, directory: ${OUT_DIR}, '
            'filename: "{correlation_id}.hl7"}\n')
    text = GOOD.replace(block, flow)
    channel = parse_channel(text, "chan.yaml", {"OUT_DIR": "/data/out"})
    archive = channel.destinations[1]
    assert (archive.directory, archive.filename) == ("/data/out", "{correlation_id}.hl7")
    error = only_error(text, {})
    assert where(error) == at(text, "${OUT_DIR}")  # located where it is written
    late = only_error(text.replace('"{correlation_id}.hl7"', "[7]"), {"OUT_DIR": "/o"})
    assert where(late) == at(text, "filename")  # columns after a token are unchanged


# -- steps -----------------------------------------------------------------------------


def test_step_short_and_long_forms() -> None:
    text = GOOD + """\
filters:
  - transforms.hl7v2:message_type_in: {types: [ADT^A01]}
transforms:
  - transforms.hl7v2:to_json
  - use: transforms.hl7v2:set_field
    with: {path: PID-3, value: X}
    name: set-mrn
  - mymod:scale: 5
  - use: mymod:plain
"""
    channel = parse_channel(text, "chan.yaml", {})
    assert channel.filters == [StepConfig(use="transforms.hl7v2:message_type_in",
                                          with_={"types": ["ADT^A01"]})]
    assert [(s.use, s.with_, s.name) for s in channel.transforms] == [
        ("transforms.hl7v2:to_json", {}, None),
        ("transforms.hl7v2:set_field", {"path": "PID-3", "value": "X"}, "set-mrn"),
        ("mymod:scale", {"value": 5}, None),
        ("mymod:plain", {}, None),
    ]


def test_destination_steps_short_form() -> None:
    text = GOOD.replace("    directory: /var/plexus/archive\n",
                        "    directory: /var/plexus/archive\n    transforms:\n"
                        "      - transforms.hl7v2:to_json\n")
    channel = parse_channel(text, "chan.yaml", {})
    assert [s.use for s in channel.destinations[1].transforms] == ["transforms.hl7v2:to_json"]


def test_step_without_colon_is_rejected() -> None:
    text = GOOD + "transforms:\n  - transforms.hl7v2:to_json\n  - nomodule\n"
    error = only_error(text)
    assert where(error) == at(text, "nomodule") == (16, 5)
    assert "module:function" in error.message


def test_step_unknown_key_is_rejected() -> None:
    text = GOOD + "transforms:\n  - use: a:b\n    args: {x: 1}\n"
    error = only_error(text)
    assert where(error) == at(text, "args")
    assert "unknown key 'args'" in error.message


# -- durations and sizes ---------------------------------------------------------------


@pytest.mark.parametrize("raw,seconds", [
    ("200ms", 0.2), ("5s", 5.0), ("5m", 300.0), ("2h", 7200.0), ("30d", 2592000.0),
    ("1.5s", 1.5), ("10", 10.0), (7, 7.0), (2.5, 2.5), (0, 0.0),
])
def test_durations(raw: Any, seconds: float) -> None:
    assert parse_duration(raw) == pytest.approx(seconds)
    value = json.dumps(raw) if isinstance(raw, str) else str(raw)
    text = GOOD.replace("  port: 2575\n", f"  port: 2575\n  idle_timeout: {value}\n")
    assert parse_channel(text, "chan.yaml", {}).source.idle_timeout == pytest.approx(seconds)


@pytest.mark.parametrize("raw", ["5 minutes", "-5s", "5x", "", "s", "1e3", -1, True,
                                 float("nan"), float("inf")])
def test_bad_durations(raw: Any) -> None:
    with pytest.raises(ValueError):
        parse_duration(raw)


@pytest.mark.parametrize("value", ["5 minutes", "-1", "true", ".nan", "[5]"])
def test_bad_duration_in_a_channel(value: str) -> None:
    text = GOOD + f"retention:\n  content: {value}\n"
    error = only_error(text)
    assert where(error) == at(text, "content")
    assert "retention.content" in error.message


def test_duration_fields_in_retry_and_retention() -> None:
    text = GOOD.replace("    port: 6661\n", "    port: 6661\n    retry:\n"
                        "      initial_interval: 200ms\n      max_interval: 5m\n") + \
        "retention:\n  content: 7d\n  metadata: 90d\n"
    channel = parse_channel(text, "chan.yaml", {})
    retry = channel.destinations[0].retry
    assert (retry.initial_interval, retry.max_interval) == (pytest.approx(0.2), 300.0)
    assert (channel.retention.content, channel.retention.metadata) == (7 * 86400.0,
                                                                       90 * 86400.0)


@pytest.mark.parametrize("raw,size", [
    ("1MiB", 1024 * 1024), ("512KB", 512_000), ("512KiB", 512 * 1024), ("2GB", 2 * 10**9),
    ("10B", 10), ("4096", 4096), (4096, 4096), (0, 0), ("1 MiB", 1024 * 1024),
])
def test_sizes(raw: Any, size: int) -> None:
    assert parse_size(raw) == size
    value = json.dumps(raw) if isinstance(raw, str) else str(raw)
    text = GOOD.replace("  port: 2575\n", f"  port: 2575\n  max_message_bytes: {value}\n")
    assert parse_channel(text, "chan.yaml", {}).source.max_message_bytes == size


@pytest.mark.parametrize("raw", ["1.5MiB", "1TB", "1mib", "lots", "", -1, True, 1.5])
def test_bad_sizes(raw: Any) -> None:
    with pytest.raises(ValueError):
        parse_size(raw)


def test_bad_size_in_a_channel() -> None:
    text = GOOD.replace("  port: 2575\n", "  port: 2575\n  max_message_bytes: 1.5MiB\n")
    error = only_error(text)
    assert where(error) == at(text, "max_message_bytes")
    assert "source.max_message_bytes" in error.message


@given(st.integers(min_value=0, max_value=10**9),
       st.sampled_from([("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0),
                        ("d", 86400.0)]))
def test_duration_units_scale(number: int, unit: tuple[str, float]) -> None:
    suffix, factor = unit
    assert parse_duration(f"{number}{suffix}") == pytest.approx(number * factor)


@given(st.integers(min_value=0, max_value=10**6),
       st.sampled_from([("KB", 1000), ("KiB", 1024), ("MB", 10**6), ("MiB", 2**20)]))
def test_size_units_scale(number: int, unit: tuple[str, int]) -> None:
    suffix, factor = unit
    assert parse_size(f"{number}{suffix}") == number * factor


# -- loading several files -------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_load_channels_from_files_and_folders(tmp_path: Path) -> None:
    write(tmp_path / "ch" / "a.yaml", GOOD)
    write(tmp_path / "ch" / "sub" / "b.yml", GOOD.replace("adt-in", "lab-in"))
    write(tmp_path / "ch" / "a_test.yaml", "channel: a.yaml\ncases: []\n")
    write(tmp_path / "ch" / "notes.txt", "not a channel")
    single = write(tmp_path / "c.yaml", GOOD.replace("adt-in", "orm-in"))
    channels = load_channels([str(tmp_path / "ch"), str(single)], {})
    assert [c.name for c in channels] == ["adt-in", "lab-in", "orm-in"]
    assert channels[0].__dict__["_file"] == str(tmp_path / "ch" / "a.yaml")


def test_load_channels_passes_env(tmp_path: Path) -> None:
    path = write(tmp_path / "a.yaml", GOOD.replace("ehr.local", "${EHR_HOST}"))
    (channel,) = load_channels([str(path)], {"EHR_HOST": "10.1.2.3"})
    assert channel.destinations[0].host == "10.1.2.3"


def test_duplicate_channel_names_across_files(tmp_path: Path) -> None:
    first = write(tmp_path / "a.yaml", GOOD)
    second = write(tmp_path / "b.yaml", GOOD)
    with pytest.raises(ConfigErrors) as info:
        load_channels([str(tmp_path)], {})
    (error,) = info.value.errors
    assert error.file == str(second)
    assert where(error) == at(GOOD, "name: adt-in") == (2, 1)
    assert "'adt-in'" in error.message
    assert str(first) in error.message


def test_errors_from_every_file_are_collected(tmp_path: Path) -> None:
    bad_a = write(tmp_path / "a.yaml", GOOD + "colour: blue\n")
    bad_b = write(tmp_path / "b.yaml", "name: [\n")
    write(tmp_path / "c.yaml", GOOD.replace("adt-in", "fine"))
    with pytest.raises(ConfigErrors) as info:
        load_channels([str(tmp_path)], {})
    assert [e.file for e in info.value.errors] == [str(bad_a), str(bad_b)]
    assert f"{bad_a}:14:1: " in str(info.value)


def test_missing_channel_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such channel file"):
        load_channels([str(tmp_path / "absent.yaml")], {})


def test_settings_file(tmp_path: Path) -> None:
    path = write(tmp_path / "plexus.yaml", "data_dir: /srv/plexus\nlease: 30s\n"
                 "store:\n  max_batch: 200\nadmin:\n  port: ${ADMIN_PORT:-9090}\n")
    settings = load_settings(str(path), {})
    assert (settings.data_dir, settings.lease, settings.store.max_batch) == (
        "/srv/plexus", 30.0, 200)
    assert settings.admin.port == 9090
    bad = write(tmp_path / "bad.yaml", "data_dir: x\nlease: forever\n")
    with pytest.raises(ConfigErrors) as info:
        load_settings(str(bad), {})
    (error,) = info.value.errors
    assert (error.file, error.line, error.column) == (str(bad), 2, 1)
    with pytest.raises(ConfigError, match="no such settings file"):
        load_settings(str(tmp_path / "absent.yaml"), {})


# -- the CLI ---------------------------------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_cli_validate_reports_located_errors(tmp_path: Path) -> None:
    text = GOOD.replace("port: 2575", "port: abc") + "colour: blue\n"
    bad = write(tmp_path / "bad.yaml", text)
    good = write(tmp_path / "good.yaml", GOOD.replace("adt-in", "fine"))
    result = cli("validate", str(bad), str(good))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    pattern = re.compile(rf"^{re.escape(str(bad))}:(\d+):(\d+): \S.*$")
    found = set()
    for line in lines:
        match = pattern.match(line)
        assert match, line
        found.add((int(match.group(1)), int(match.group(2))))
    assert found == {at(text, "port: abc"), at(text, "colour")}


def test_cli_validate_good_file(tmp_path: Path) -> None:
    good = write(tmp_path / "good.yaml",
                 GOOD + "transforms:\n  - transforms.hl7v2:set_field: "
                        "{path: PID-3, value: X}\n")
    result = cli("validate", str(good))
    assert result.returncode == 0, result.stderr
    assert "1 channel(s) OK" in result.stdout


def test_cli_validate_unresolvable_step(tmp_path: Path) -> None:
    path = write(tmp_path / "steps.yaml", GOOD + "transforms:\n  - no_such_module_x:fn\n")
    result = cli("validate", str(path))
    assert result.returncode == 1
    text = path.read_text()
    assert result.stderr.startswith(f"{path}:{text.count(chr(10))}:5: ")  # the step's line
    assert "no_such_module_x" in result.stderr


def test_cli_schema() -> None:
    result = cli("schema")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert {"name", "source", "destinations"} <= set(schema["properties"])
    assert "destinations" in schema.get("required", [])
