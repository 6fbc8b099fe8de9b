"""A persistent local Prefect server for ``movierec pipeline``, started once.

Without a Prefect API, every flow run starts Prefect's temporary server and stops it at
the end (8–10 s per run). The cheapest correct mode on one machine is one server that
outlives the runs:

* ``PREFECT_API_URL`` set (environment or the active Prefect profile): the flow uses that
  API and nothing here applies;
* ``movierec prefect start`` starts ``prefect server start`` on 127.0.0.1 in its own
  session (not a child of later commands, so a Ctrl-C that stops a pipeline run leaves it
  running; :mod:`movierec.interrupt` stops only a command's own children), waits until it
  answers, and records its URL and process id in ``$PREFECT_HOME/movierec-server.json``;
  ``movierec prefect stop`` stops it, ``movierec prefect status`` reports it;
* ``movierec pipeline`` (:func:`use_running_server`, before Prefect is imported) points
  ``PREFECT_API_URL`` at that server when it answers; otherwise the flow falls back to the
  temporary server, as before.

Runs and their task records then accumulate in the server's database
(``$PREFECT_HOME/prefect.db``), visible in its UI at the recorded URL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from movierec.errors import ConfigError

__all__ = [
    "ServerInfo",
    "command_server",
    "flow_api",
    "running_server",
    "start",
    "status",
    "stop",
    "use_running_server",
]

START_TIMEOUT = 90.0  # seconds for a first start (database migrations)


@dataclass(frozen=True)
class ServerInfo:
    """A server started by :func:`start`."""

    url: str
    pid: int
    log: str

    def __str__(self) -> str:
        return f"Prefect server at {self.url} (pid {self.pid}; log {self.log})"


def prefect_home() -> Path:
    """Prefect's home folder (``PREFECT_HOME``, default ``~/.prefect``)."""
    return Path(os.environ.get("PREFECT_HOME", "~/.prefect")).expanduser()


def _state_file() -> Path:
    return prefect_home() / "movierec-server.json"


def _answers(url: str, timeout: float = 1.0) -> bool:
    """Whether ``url`` (an API URL ending in ``/api``) answers its health check."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as response:  # noqa: S310
            return bool(response.status == 200)
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - another user's process
        return True
    stat = Path(f"/proc/{pid}/stat")
    return not stat.is_file() or stat.read_text().rsplit(")", 1)[-1].split()[0] != "Z"


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def running_server() -> ServerInfo | None:
    """The server recorded by :func:`start` if its process is alive and it answers."""
    try:
        info = ServerInfo(**json.loads(_state_file().read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    return info if _alive(info.pid) and _answers(info.url) else None


def _configured_api() -> str | None:
    """``PREFECT_API_URL`` from the environment or the active profile, if any (read without
    importing Prefect)."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    profiles = prefect_home() / "profiles.toml"
    try:
        import tomllib

        data = tomllib.loads(profiles.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    active = os.environ.get("PREFECT_PROFILE") or data.get("active", "ephemeral")
    value = data.get("profiles", {}).get(active, {}).get("PREFECT_API_URL")
    return str(value) if value else None


def use_running_server() -> str | None:
    """Before Prefect is imported: use the server of :func:`start` when no API is
    configured and it answers (sets ``PREFECT_API_URL``). Returns the API URL the flow will
    use (``None``: Prefect's temporary server).

    Raises:
        ConfigError: an API is configured but does not answer (one line, instead of
            Prefect's traceback when the flow starts).
    """
    configured = _configured_api()
    if configured:
        if not _answers(configured, timeout=3.0):
            raise ConfigError(
                f"the Prefect API at {configured} (PREFECT_API_URL) does not answer; start "
                "it, or unset PREFECT_API_URL to use 'movierec prefect start' or a temporary "
                "server"
            )
        return configured
    info = running_server()
    if info is None:
        return None
    os.environ["PREFECT_API_URL"] = info.url
    return info.url


_STARTUP_TIMEOUT = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
TEMPORARY_SERVER_TIMEOUT = 120
"""Seconds a flow waits for Prefect's temporary server unless the setting above is set."""


@contextmanager
def flow_api() -> Iterator[str | None]:
    """:func:`use_running_server` for a with-block: ``PREFECT_API_URL`` is what it was
    before once the block ends (a command run in-process leaves no trace)."""
    previous = os.environ.get("PREFECT_API_URL")
    previous_timeout = os.environ.get(_STARTUP_TIMEOUT)
    # Prefect waits 20 s for its temporary server; a busy machine needs longer.
    os.environ.setdefault(_STARTUP_TIMEOUT, str(TEMPORARY_SERVER_TIMEOUT))
    try:
        yield use_running_server()
    except RuntimeError as exc:
        if "ephemeral Prefect API server" not in str(exc):
            raise
        raise ConfigError(
            f"Prefect's temporary server did not start within {os.environ[_STARTUP_TIMEOUT]} s "
            f"(set {_STARTUP_TIMEOUT}, or run 'movierec prefect start' once)"
        ) from None
    finally:
        _restore("PREFECT_API_URL", previous)
        _restore(_STARTUP_TIMEOUT, previous_timeout)


def _restore(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def start(port: int = 4200) -> ServerInfo:
    """Start a detached ``prefect server start`` on ``127.0.0.1:port`` and wait until it
    answers (a running one is returned as is).

    Raises:
        ConfigError: an API is already configured, the port is taken by something else,
            or the server did not come up (its log is named).
    """
    info = running_server()
    if info is not None:
        return info
    configured = _configured_api()
    if configured:
        raise ConfigError(f"PREFECT_API_URL is already set ({configured}); the flow uses it")
    url = f"http://127.0.0.1:{int(port)}/api"
    if _answers(url):
        raise ConfigError(f"something already answers at {url}; set PREFECT_API_URL={url}")
    home = prefect_home()
    home.mkdir(parents=True, exist_ok=True)
    log = home / "movierec-server.log"
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    cmd = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
           "--port", str(int(port))]  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,  # its own session: a later Ctrl-C does not reach it
        )  # fmt: skip
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ConfigError(f"the Prefect server exited with code {proc.returncode}; see {log}")
        if _answers(url):
            info = ServerInfo(url, proc.pid, str(log))
            _state_file().write_text(json.dumps(info.__dict__), encoding="utf-8")
            return info
        time.sleep(0.25)
    os.killpg(proc.pid, signal.SIGTERM)
    raise ConfigError(f"the Prefect server did not answer within {START_TIMEOUT:.0f} s; see {log}")


def stop() -> ServerInfo | None:
    """Stop the server of :func:`start` (its whole process group); ``None`` if none runs."""
    try:
        info = ServerInfo(**json.loads(_state_file().read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    _state_file().unlink(missing_ok=True)
    if not _alive(info.pid) or b"prefect" not in _cmdline(info.pid):
        return None  # gone (its process id may since belong to another program)
    os.killpg(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _alive(info.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(info.pid):
        os.killpg(info.pid, signal.SIGKILL)
    return info


def status() -> str:
    """One line: the server in use, or how the flow will run."""
    configured = _configured_api()
    if configured:
        return f"PREFECT_API_URL is set: the flow uses {configured}"
    info = running_server()
    if info is not None:
        return f"running: {info}"
    return "no server running: each pipeline run starts a temporary one ('movierec prefect start')"


# ------------------------------------------------------------ a server for one command
# (movierec schedule, movierec pipeline --cron: deployments need a real API)
def _launch_child(port: int) -> subprocess.Popen[bytes]:
    """``prefect server start`` on ``127.0.0.1:port`` as a child of this process (same
    session: :mod:`movierec.interrupt` stops it on Ctrl-C), once it answers."""
    url = f"http://127.0.0.1:{int(port)}/api"
    home = prefect_home()
    home.mkdir(parents=True, exist_ok=True)
    log = home / "movierec-command-server.log"
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    cmd = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
           "--port", str(int(port)), "--no-ui"]  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ConfigError(f"the Prefect server exited with code {proc.returncode}; see {log}")
        if _answers(url):
            return proc
        time.sleep(0.25)
    proc.kill()
    raise ConfigError(f"the Prefect server did not answer within {START_TIMEOUT:.0f} s; see {log}")


@contextmanager
def command_server(port: int = 4200) -> Iterator[str]:
    """The Prefect API one long-running command uses, set as ``PREFECT_API_URL``:

    1. a configured API, or the server of ``movierec prefect start``
       (:func:`use_running_server`);
    2. else a Prefect server already answering on ``127.0.0.1:port``;
    3. else ``prefect server start`` on that port as a child of this command, stopped when
       the command ends (and on Ctrl-C, with every child: :mod:`movierec.interrupt`).
    """
    previous = os.environ.get("PREFECT_API_URL")
    url = use_running_server() or f"http://127.0.0.1:{int(port)}/api"
    proc = None
    if not _answers(url):
        proc = _launch_child(port)
    os.environ["PREFECT_API_URL"] = url
    try:
        yield url
    finally:
        _restore("PREFECT_API_URL", previous)
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
