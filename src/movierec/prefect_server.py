"""The local Prefect server: the one place that finds or starts a Prefect API on this machine.

Schedules (``movierec schedule``, ``movierec pipeline --cron``) need a real Prefect API; a
temporary in-process server cannot hold a deployment. :func:`local_server` gives one:

1. ``PREFECT_API_URL`` set: that API is used as it is (it must answer ``/health``);
2. else a Prefect server already answering on ``127.0.0.1:<port>`` is reused;
3. else ``prefect server start --host 127.0.0.1 --port <port>`` is started as a *child* of
   this process, with its database under ``<home>/prefect/`` and its log in
   ``<home>/prefect/server.log``. Being a child, it stops with the command: on Ctrl-C
   (:mod:`movierec.interrupt` stops every child process) or when the command ends.

Prefect itself is not imported here (``httpx`` checks the health endpoint), so the module
is light; the caller points Prefect at the yielded URL.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from movierec.errors import ConfigError
from movierec.extras import require

HOST = "127.0.0.1"
DEFAULT_PORT = 4200
START_TIMEOUT_S = 180.0


def api_url(port: int, host: str = HOST) -> str:
    """The API URL of a server on ``host:port`` (``http://127.0.0.1:4200/api``)."""
    return f"http://{host}:{int(port)}/api"


def healthy(url: str, timeout: float = 2.0) -> bool:
    """True when the Prefect API at ``url`` answers ``GET /health`` with 200."""
    import httpx

    try:
        return httpx.get(f"{url.rstrip('/')}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def free_port(host: str = HOST) -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_taken(port: int, host: str = HOST) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, int(port))) == 0


def start(home: Path, port: int, timeout: float = START_TIMEOUT_S) -> subprocess.Popen[bytes]:
    """Start ``prefect server start`` on ``127.0.0.1:port`` as a child process and wait until
    its API answers.

    Raises:
        ConfigError: the port is taken by something else, the server exits, or it does not
            answer within ``timeout`` seconds (the message names its log file).
    """
    require("flow", "prefect", "a Prefect server")
    if _port_taken(port):
        raise ConfigError(
            f"port {port} on {HOST} is taken by something that is not a Prefect server; "
            "choose another with --prefect-port"
        )
    folder = (Path(home) / "prefect").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / "server.log"
    env = {
        **os.environ,
        "PREFECT_HOME": str(folder),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
    }
    env.pop("PREFECT_API_URL", None)
    cmd = [sys.executable, "-m", "prefect", "server", "start", "--host", HOST]
    cmd += ["--port", str(int(port)), "--analytics-off", "--no-ui"]
    with log_path.open("ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = api_url(port)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ConfigError(
                f"the Prefect server exited with code {proc.returncode}; see {log_path}"
            )
        if healthy(url, timeout=1.0):
            return proc
        time.sleep(0.25)
    stop(proc)
    raise ConfigError(f"the Prefect server did not answer within {timeout:.0f} s; see {log_path}")


def stop(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """Terminate a server started by :func:`start` (kill it after ``grace`` seconds)."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def local_server(home: Path, port: int = DEFAULT_PORT) -> Iterator[str]:
    """The URL of a Prefect API to use (see the module docstring); a server this started is
    stopped on exit."""
    configured = os.environ.get("PREFECT_API_URL")
    if configured:
        if not healthy(configured):
            raise ConfigError(f"the Prefect API at PREFECT_API_URL={configured} does not answer")
        yield configured
        return
    url = api_url(port)
    if healthy(url):
        yield url
        return
    proc = start(home, port)
    try:
        yield url
    finally:
        stop(proc)
