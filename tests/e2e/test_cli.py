"""The `plexus` command line: send, validate, test, schema, messages and replay."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .engine_process import ROOT, EngineProcess, free_port
from .hl7 import adt

CHANNEL = """\
name: cli
source:
  type: mllp
  host: 127.0.0.1
  port: {port}
destinations:
  - name: archive
    type: file
    directory: {out}
    filename: "{{correlation_id}}.hl7"
"""


def plexus(*args: str, cwd: Path = ROOT,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m engine.cli ARGS` with no engine involved."""
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=cwd,
                          env=env or dict(os.environ), capture_output=True, text=True,
                          timeout=60)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProcess]:
    work = tmp_path_factory.mktemp("cli")
    port = free_port()
    proc = EngineProcess(work, {"cli": CHANNEL.format(port=port, out=work / "out")})
    proc.mllp_port = port  # type: ignore[attr-defined]
    with proc:
        yield proc


def _address(engine: EngineProcess) -> str:
    return f"127.0.0.1:{engine.mllp_port}"  # type: ignore[attr-defined]


def _lines(text: str) -> list[list[str]]:
    return [line.split("\t") for line in text.splitlines() if line.strip()]


# -- plexus send mllp -----------------------------------------------------------------------
def _files(tmp_path: Path, prefix: str) -> dict[str, Path]:
    """A file per line-ending style and one holding two messages."""
    def write(name: str, data: bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path

    cr = adt(f"{prefix}-CR")
    return {
        "cr": write("cr.hl7", cr),
        "lf": write("lf.hl7", adt(f"{prefix}-LF").replace(b"\r", b"\n")),
        "crlf": write("crlf.hl7", b"\xef\xbb\xbf" + adt(f"{prefix}-CRLF").replace(b"\r", b"\r\n")),
        "two": write("two.hl7", adt(f"{prefix}-TWO-1").replace(b"\r", b"\n") + b"\n"
                     + adt(f"{prefix}-TWO-2").replace(b"\r", b"\n")),
    }


def test_send_prints_code_and_control_id_per_message_and_exits_0(
        engine: EngineProcess, tmp_path: Path) -> None:
    files = _files(tmp_path, "SEND")
    result = engine.cli("send", "mllp", _address(engine), *(str(p) for p in files.values()))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = _lines(result.stdout)
    assert [(Path(line[0]).name, line[1], line[2]) for line in lines] == [
        ("cr.hl7", "AA", "SEND-CR"),
        ("lf.hl7", "AA", "SEND-LF"),
        ("crlf.hl7", "AA", "SEND-CRLF"),
        ("two.hl7", "AA", "SEND-TWO-1"),
        ("two.hl7", "AA", "SEND-TWO-2"),
    ]
    for control_id in ("SEND-CR", "SEND-LF", "SEND-CRLF", "SEND-TWO-1", "SEND-TWO-2"):
        listed = json.loads(engine.cli("messages", "list", "--correlation-id", control_id,
                                       "--json").stdout)
        assert len(listed) == 1 and listed[0]["status"] in ("queued", "sent"), control_id


def test_send_exits_1_when_a_message_is_rejected(engine: EngineProcess, tmp_path: Path) -> None:
    good = tmp_path / "good.hl7"
    good.write_bytes(adt("SENDBAD-OK"))
    bad = tmp_path / "bad_version.hl7"
    bad.write_bytes(adt("SENDBAD-V", version="9.9"))
    after = tmp_path / "after.hl7"
    after.write_bytes(adt("SENDBAD-AFTER"))
    result = engine.cli("send", "mllp", _address(engine), str(good), str(bad), str(after))
    assert result.returncode == 1, result.stdout + result.stderr
    lines = _lines(result.stdout)
    assert [(Path(line[0]).name, line[1], line[2]) for line in lines] == [
        ("good.hl7", "AA", "SENDBAD-OK"),
        ("bad_version.hl7", "AR", "SENDBAD-V"),
        ("after.hl7", "AA", "SENDBAD-AFTER"),  # the other files are still sent
    ]
    assert "9.9" in "\t".join(lines[1][3:])  # the reason is shown


# -- plexus validate ------------------------------------------------------------------------
UNKNOWN_KEY = """\
name: unknown-key
source:
  type: mllp
  host: 127.0.0.1
  port: 6700
  max_message_bytes: 1MiB
  colour: blue
destinations:
  - name: archive
    type: file
    directory: /tmp/plexus-validate-out
"""

BAD_PORT = """\
name: bad-port
source:
  type: mllp
  host: 127.0.0.1
  port: not-a-number
destinations:
  - name: archive
    type: file
    directory: /tmp/plexus-validate-out
"""

UNKNOWN_DESTINATION_TYPE = """\
name: unknown-destination
source:
  type: mllp
  host: 127.0.0.1
  port: 6701
destinations:
  - name: archive
    type: file
    directory: /tmp/plexus-validate-out
  - name: erp
    url: http://127.0.0.1:9/hl7
    type: carrier-pigeon
"""

MISSING_ENV = """\
name: missing-env
source:
  type: mllp
  host: 127.0.0.1
  port: 6702
destinations:
  - name: erp
    type: http
    url: ${PLEXUS_TEST_UNSET_VARIABLE}/hl7
"""

UNKNOWN_TRANSFORM = """\
name: unknown-transform
source:
  type: mllp
  host: 127.0.0.1
  port: 6703
transforms:
  - use: transforms.hl7v2:set_field
    with: {path: MSH-4, value: PLEXUS}
  - use: transforms.hl7v2:no_such_function
destinations:
  - name: archive
    type: file
    directory: /tmp/plexus-validate-out
"""

BROKEN = {
    # file name: (text, line of the error, words the message must contain)
    "unknown_key.yaml": (UNKNOWN_KEY, 7, ["colour"]),
    "bad_port.yaml": (BAD_PORT, 5, ["port", "integer"]),
    "unknown_destination.yaml": (UNKNOWN_DESTINATION_TYPE, 12, ["carrier-pigeon"]),
    "missing_env.yaml": (MISSING_ENV, 9, ["PLEXUS_TEST_UNSET_VARIABLE"]),
    "unknown_transform.yaml": (UNKNOWN_TRANSFORM, 9, ["no_such_function"]),
}


def _env_without_test_variable() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PLEXUS_TEST_UNSET_VARIABLE"}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_validate_reports_file_line_col(tmp_path: Path, name: str) -> None:
    text, line, words = BROKEN[name]
    path = tmp_path / name
    path.write_text(text)
    result = plexus("validate", str(path), env=_env_without_test_variable())
    assert result.returncode == 1, result.stdout + result.stderr
    output = result.stderr + result.stdout
    found = re.findall(rf"^{re.escape(str(path))}:(\d+):(\d+): (.+)$", output, re.MULTILINE)
    assert found, f"no file:line:col: message in {output!r}"
    assert [int(f[0]) for f in found] == [line], f"expected line {line}: {output!r}"
    message = found[0][2]
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


def test_validate_reports_every_broken_file_of_a_folder(tmp_path: Path) -> None:
    for name, (text, _, _) in BROKEN.items():
        (tmp_path / name).write_text(text)
    result = plexus("validate", str(tmp_path), env=_env_without_test_variable())
    assert result.returncode == 1
    output = result.stderr + result.stdout
    for name in BROKEN:
        assert re.search(rf"^{re.escape(str(tmp_path / name))}:\d+:\d+: ", output, re.MULTILINE), \
            f"{name} not reported in {output!r}"


def test_validate_shipped_channels_exits_0() -> None:
    result = plexus("validate", "channels/")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout


# -- plexus test ----------------------------------------------------------------------------
def test_plexus_test_on_shipped_channels_passes() -> None:
    result = plexus("test", "channels/")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 passed, 0 failed" in result.stdout


DEMO_CHANNEL = """\
name: demo
source: {type: mllp, host: 127.0.0.1, port: 6704}
transforms:
  - use: transforms.hl7v2:set_field
    with: {path: MSH-4, value: PLEXUS}
destinations:
  - name: archive
    type: file
    directory: /tmp/plexus-demo-out
"""

DEMO_SIDECAR = """\
cases:
  - name: right expectation
    message: |
      MSH|^~\\&|EHR|GOODHEALTH|ARCHIVE|GOODHEALTH|20240116101500||ADT^A04|DEMO-1|P|2.5.1
      PID|1||TEST0001^^^GOODHEALTH^MR
    expect:
      destinations:
        archive:
          equals: |
            MSH|^~\\&|EHR|PLEXUS|ARCHIVE|GOODHEALTH|20240116101500||ADT^A04|DEMO-1|P|2.5.1
            PID|1||TEST0001^^^GOODHEALTH^MR
  - name: wrong expectation
    message: |
      MSH|^~\\&|EHR|GOODHEALTH|ARCHIVE|GOODHEALTH|20240116101500||ADT^A04|DEMO-2|P|2.5.1
      PID|1||TEST0002^^^GOODHEALTH^MR
    expect:
      destinations:
        archive:
          equals: |
            MSH|^~\\&|EHR|GOODHEALTH|ARCHIVE|GOODHEALTH|20240116101500||ADT^A04|DEMO-2|P|2.5.1
            PID|1||TEST0002^^^GOODHEALTH^MR
"""


def test_plexus_test_with_a_wrong_expectation_exits_1_with_a_diff(tmp_path: Path) -> None:
    (tmp_path / "demo.yaml").write_text(DEMO_CHANNEL)
    (tmp_path / "demo_test.yaml").write_text(DEMO_SIDECAR)
    result = plexus("test", str(tmp_path))
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "1 passed, 1 failed" in out
    assert "FAIL" in out and "wrong expectation" in out
    lines = [line.strip() for line in out.splitlines()]
    assert any(line.startswith("---") for line in lines), out
    assert any(line.startswith("+++") for line in lines), out
    assert any(line.startswith("-MSH|^~\\&|EHR|GOODHEALTH|") for line in lines), out
    assert any(line.startswith("+MSH|^~\\&|EHR|PLEXUS|") for line in lines), out


# -- plexus schema, messages, replay ---------------------------------------------------------
def test_schema_is_json() -> None:
    result = plexus("schema")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert {"name", "source", "destinations"} <= set(schema["properties"])


def test_messages_show_unknown_id_exits_1(engine: EngineProcess) -> None:
    result = engine.cli("messages", "show", "987654321")
    assert result.returncode == 1
    assert "987654321" in result.stderr


def test_replay_without_ids_or_dead_letter_is_a_usage_error(engine: EngineProcess) -> None:
    result = engine.cli("replay")
    assert result.returncode != 0
    assert "Usage:" in result.stderr
    assert "--dead-letter" in result.stderr
