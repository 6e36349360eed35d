"""Start `plexus run` as a real subprocess on 127.0.0.1 ports, and talk to it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """An ephemeral TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SETTINGS = """\
data_dir: {data_dir}
channels: [{channel_dir}]
log_level: {log_level}
poll_interval: 200ms
lease: 5s
prune_interval: 1h
metrics_interval: 200ms
"""


class EngineProcess:
    """One `plexus run` process with its own data dir, channel folder and admin port."""

    def __init__(self, workdir: Path, channels: dict[str, str], env: dict[str, str] | None = None,
                 log_level: str = "info", data_dir: Path | None = None,
                 settings: str = "") -> None:
        self.workdir = workdir
        self.channel_dir = workdir / "channels"
        self.data_dir = data_dir or workdir / "data"
        self.settings = workdir / "plexus.yaml"
        self.log_path = workdir / "engine.log"
        self.channels = channels
        self.env = {**os.environ, **(env or {})}
        self.log_level = log_level
        self.extra_settings = settings  # YAML lines that override the defaults below
        self.admin_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> EngineProcess:
        """Write the files, start the process and wait until /readyz answers 200."""
        self.channel_dir.mkdir(parents=True, exist_ok=True)
        for name, text in self.channels.items():
            (self.channel_dir / f"{name}.yaml").write_text(text)
        text = SETTINGS.format(data_dir=self.data_dir, channel_dir=self.channel_dir,
                               log_level=self.log_level)
        overridden = {line.split(":")[0] for line in self.extra_settings.splitlines()}
        text = "".join(line + "\n" for line in text.splitlines()
                       if line.split(":")[0] not in overridden)
        self.settings.write_text(text + self.extra_settings)
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "engine.cli", "run", "--settings", str(self.settings),
             "--admin", f"127.0.0.1:{self.admin_port}"],
            cwd=ROOT, env=self.env, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"plexus exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if self.get("/readyz")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"plexus did not become ready:\n{self.log()}")

    def get(self, path: str) -> tuple[int, str]:
        """GET on the admin server."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}{path}",
                                        timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def metric(self, name: str, **labels: str) -> float:
        """The value of one sample from /metrics (0 when absent)."""
        _, text = self.get("/metrics")
        want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            series, _, value = line.rpartition(" ")
            metric, _, label_text = series.partition("{")
            if metric != name:
                continue
            got = ",".join(sorted(label_text.rstrip("}").split(","))) if label_text else ""
            if got == want:
                return float(value)
        return 0.0

    def wait_for(self, predicate: Any, timeout: float = 30.0, what: str = "condition") -> None:
        """Poll until predicate() is true."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}\n{self.log()[-4000:]}")

    def cli(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        """Run a `plexus` CLI command against this engine's store."""
        argv = [sys.executable, "-m", "engine.cli", *args]
        if args and args[0] in ("messages", "replay"):
            argv += ["--settings", str(self.settings)]
        return subprocess.run(argv, cwd=ROOT, env=self.env, capture_output=True, text=True,
                              timeout=60, check=check)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        """SIGKILL (a crash)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log(self) -> str:
        """Everything the process wrote to stdout/stderr."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> EngineProcess:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        try:
            self.stop()
        finally:
            self.kill()
