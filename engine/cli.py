"""The `plexus` command line."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import asdict
from typing import Any

import click

from .config import ConfigError, ConfigErrors, Settings, load_channels, load_settings
from .errors import StoreError


def _settings(settings_path: str | None, data_dir: str | None) -> Settings:
    settings = load_settings(settings_path or "configs/plexus.yaml")
    if data_dir:
        settings.data_dir = data_dir
    return settings


def _fail(exc: ConfigError) -> None:
    errors = exc.errors if isinstance(exc, ConfigErrors) else [exc]
    for err in errors:
        click.echo(str(err), err=True)
    sys.exit(1)


@click.group()
def main() -> None:
    """Plexus: a healthcare interface engine."""


@main.command()
@click.argument("paths", nargs=-1)
@click.option("--settings", "settings_path", help="settings file (configs/plexus.yaml)")
@click.option("--data-dir", help="where the store lives (overrides settings)")
@click.option("--admin", help="admin HTTP server HOST:PORT (default 127.0.0.1:8080)")
@click.option("--transforms-dir", help="folder of extra transform files")
def run(paths: tuple[str, ...], settings_path: str | None, data_dir: str | None,
        admin: str | None, transforms_dir: str | None) -> None:
    """Run channels (files or folders; default: the settings' channels)."""
    from twisted.internet import reactor

    from .logs import setup_logging
    from .runtime import Engine

    try:
        settings = _settings(settings_path, data_dir)
        if transforms_dir:
            settings.transforms_dir = transforms_dir
        setup_logging(settings.log_level)
        from .steps import StepResolver

        channels = load_channels(list(paths) or settings.channels,
                                 resolver=StepResolver(settings.transforms_dir))
    except ConfigError as exc:
        _fail(exc)
        return
    admin_address = None
    if admin:
        host, _, port = admin.rpartition(":")
        admin_address = (host or "127.0.0.1", int(port))
    engine = Engine(settings, channels, reactor, admin_address)
    exit_code = [0]

    def start() -> None:
        try:
            engine.start()
        except Exception as exc:  # bad config found at start, port in use...
            click.echo(f"plexus: cannot start: {exc}", err=True)
            exit_code[0] = 1
            reactor.stop()  # type: ignore[attr-defined]

    stopping = [False]

    def on_signal(signum: int, _frame: Any) -> None:
        # one shutdown however many signals arrive (systemd, docker and ^C may all send one)
        if not stopping[0]:
            stopping[0] = True
            reactor.callFromThread(reactor.stop)  # type: ignore[attr-defined]

    def install_signals() -> None:
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

    reactor.addSystemEventTrigger("before", "shutdown", engine.stop)  # type: ignore[attr-defined]
    reactor.callWhenRunning(install_signals)  # type: ignore[attr-defined]
    reactor.callWhenRunning(start)  # type: ignore[attr-defined]
    reactor.run()  # type: ignore[attr-defined]
    sys.exit(exit_code[0])


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--transforms-dir", help="folder of extra transform files")
def validate(paths: tuple[str, ...], transforms_dir: str | None) -> None:
    """Check channel files; print every error as file:line:col: message."""
    from .steps import StepResolver

    try:
        channels = load_channels(list(paths), resolver=StepResolver(transforms_dir))
    except ConfigError as exc:
        _fail(exc)
        return
    click.echo(f"{len(channels)} channel(s) OK")


@main.command()
@click.option("--markdown", is_flag=True, help="the connector reference as Markdown instead")
def schema(markdown: bool) -> None:
    """Print the JSON Schema of channel files (or the Markdown connector reference)."""
    from .config import channel_model

    if markdown:
        from .reference import connector_reference

        click.echo(connector_reference())
        return
    click.echo(json.dumps(channel_model().model_json_schema(by_alias=True), indent=2))


@main.command("test")
@click.argument("paths", nargs=-1, required=True)
@click.option("--transforms-dir", help="folder of extra transform files")
def test_command(paths: tuple[str, ...], transforms_dir: str | None) -> None:
    """Run <channel>_test.yaml sidecars offline; exit 1 on a failure, with a diff."""
    from .channel_tests import run_sidecars

    try:
        failures, total = run_sidecars(list(paths), transforms_dir, click.echo)
    except ConfigError as exc:
        _fail(exc)
        return
    click.echo(f"{total - failures} passed, {failures} failed")
    sys.exit(1 if failures else 0)


@main.group()
def send() -> None:
    """Send messages to a listener."""


@send.command("mllp")
@click.argument("address")
@click.argument("files", nargs=-1, required=True)
@click.option("--timeout", default=10.0, help="seconds to wait for each ACK")
def send_mllp(address: str, files: tuple[str, ...], timeout: float) -> None:
    """Send each file's HL7 message(s) over MLLP; print each ACK's code and control id."""
    from protocols.hl7v2.message import Hl7Message
    from protocols.mllp.client import MllpClient, read_messages_file

    host, _, port = address.rpartition(":")
    bad = 0
    with MllpClient(host or "127.0.0.1", int(port), timeout=timeout) as client:
        for name in files:
            for payload in read_messages_file(name):
                try:
                    reply = client.send(payload)
                    ack = Hl7Message.parse(reply.decode("utf-8", errors="replace"))
                    code, control = ack.get("MSA-1"), ack.get("MSA-2")
                    text = ack.get("MSA-3") or ack.get("ERR-8") or ack.get("ERR-1")
                except Exception as exc:  # noqa: BLE001 - report and go on
                    code, control, text = "??", "", str(exc)
                click.echo(f"{name}\t{code}\t{control}\t{text}".rstrip())
                if code not in ("AA", "CA"):
                    bad += 1
    sys.exit(1 if bad else 0)


def _store(settings_path: str | None, data_dir: str | None) -> Any:
    from .runtime import open_store

    settings = _settings(settings_path, data_dir)
    settings.store.migrate = False  # reading never changes the schema
    store = open_store(settings)
    path = getattr(store, "path", None)
    if path is not None and not os.path.exists(path):
        click.echo(f"no store at {path}", err=True)
        sys.exit(1)
    try:
        store.open()
    except StoreError as exc:
        click.echo(f"plexus: {exc}", err=True)
        sys.exit(1)
    return store


_store_options = [
    click.option("--settings", "settings_path", help="settings file"),
    click.option("--data-dir", help="where the store lives"),
]


def _with_store_options(fn: Any) -> Any:
    for option in reversed(_store_options):
        fn = option(fn)
    return fn


@main.group()
def db() -> None:
    """Create and migrate the store's schema (PostgreSQL)."""


def _postgres_settings(settings_path: str | None) -> Any:
    settings = _settings(settings_path, None)
    if settings.store.backend != "postgres":
        click.echo("plexus: the store is SQLite; it migrates itself on open", err=True)
        sys.exit(1)
    return settings.store


@db.command("upgrade")
@click.option("--settings", "settings_path", help="settings file (configs/plexus.yaml)")
@click.option("--to", "target", type=int, help="stop at this schema version")
def db_upgrade(settings_path: str | None, target: int | None) -> None:
    """Create the schema or apply every migration it lacks (safe to run on every node)."""
    from .store.pg_schema import PG_SCHEMA_VERSION
    from .store.postgres import upgrade

    store = _postgres_settings(settings_path)
    try:
        before, after = upgrade(store.dsn, store.schema_name, target or PG_SCHEMA_VERSION)
    except StoreError as exc:
        click.echo(f"plexus: {exc}", err=True)
        sys.exit(1)
    click.echo(f"schema {store.schema_name}: version {before} -> {after}"
               if after != before else f"schema {store.schema_name}: up to date ({after})")


@db.command("status")
@click.option("--settings", "settings_path", help="settings file (configs/plexus.yaml)")
def db_status(settings_path: str | None) -> None:
    """Print the schema version in the database and the one this Plexus needs."""
    from .store.pg_schema import PG_SCHEMA_VERSION
    from .store.postgres import connect, schema_version

    store = _postgres_settings(settings_path)
    try:
        with connect(store.dsn, store.schema_name) as conn:
            current = schema_version(conn)
    except StoreError as exc:
        click.echo(f"plexus: {exc}", err=True)
        sys.exit(1)
    click.echo(f"schema {store.schema_name}: version {current}, this Plexus needs "
               f"{PG_SCHEMA_VERSION}")
    sys.exit(0 if current == PG_SCHEMA_VERSION else 2)


@main.group()
def messages() -> None:
    """Browse stored messages."""


@messages.command("list")
@click.option("--channel")
@click.option("--status", type=click.Choice(
    ["received", "filtered", "sent", "queued", "error", "dead", "duplicate"]))
@click.option("--correlation-id")
@click.option("--business-key", help="e.g. an HL7 control id (MSH-10)")
@click.option("--limit", default=100)
@click.option("--json", "as_json", is_flag=True)
@_with_store_options
def messages_list(channel: str | None, status: str | None, correlation_id: str | None,
                  business_key: str | None, limit: int, as_json: bool,
                  settings_path: str | None, data_dir: str | None) -> None:
    """List messages, newest first."""
    store = _store(settings_path, data_dir)
    rows = store.list_messages(channel, status, correlation_id, business_key, limit)
    if as_json:
        click.echo(json.dumps([asdict(r) for r in rows], indent=2))
        return
    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.received_at))
        click.echo(f"{r.message_id}\t{when}\t{r.channel}\t{r.status}\t{r.correlation_id}"
                   + (f"\t{r.error}" if r.error else ""))


@messages.command("show")
@click.argument("message_id", type=int)
@_with_store_options
def messages_show(message_id: int, settings_path: str | None, data_dir: str | None) -> None:
    """Every stage's content and each destination's attempts and errors."""
    store = _store(settings_path, data_dir)
    message = store.get_message(message_id)
    if message is None:
        click.echo(f"no message {message_id}", err=True)
        sys.exit(1)
    for stage in message["stages"]:
        content = stage["content"]
        stage["content"] = content.decode("utf-8", errors="replace").replace("\r", "\n") \
            if isinstance(content, bytes) else content
    click.echo(json.dumps(message, indent=2, ensure_ascii=False))


@main.command()
@click.argument("message_ids", nargs=-1, type=int)
@click.option("--dead-letter", is_flag=True, help="replay the dead-letter queue of a channel")
@click.option("--channel")
@click.option("--destination")
@_with_store_options
def replay(message_ids: tuple[int, ...], dead_letter: bool, channel: str | None,
           destination: str | None, settings_path: str | None, data_dir: str | None) -> None:
    """Queue messages for delivery again (by id, or a channel's dead letters)."""
    if dead_letter and not channel:
        raise click.UsageError("--dead-letter needs --channel")
    if not dead_letter and not message_ids:
        raise click.UsageError("give message ids or --dead-letter --channel C")
    store = _store(settings_path, data_dir)
    if dead_letter:
        count = store.replay_dead(channel, destination)  # type: ignore[arg-type]
    else:
        count = store.replay(list(message_ids), destination)
    click.echo(f"{count} deliveries queued again")


if __name__ == "__main__":
    main()

