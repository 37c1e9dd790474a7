"""Run the gateway with uvicorn in a background thread on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import uvicorn

from supabase_jobs.local._gateway._app import GatewayApp, GatewayConfig

__all__ = ["Gateway"]

_START_TIMEOUT_SECONDS = 30.0


class Gateway:
    """A PostgREST-compatible HTTP server for one database, serving ``/rest/v1/``.

    It listens on ``127.0.0.1`` only, at an ephemeral port chosen on the first start and kept
    across restarts (so clients built with :attr:`url` keep working after ``stop()`` +
    ``start()``).

    Args:
        database_url: Conninfo for the ``authenticator`` role.
        jwt_secret: HS256 secret that signs the project's JWTs.
        port: Port to listen on; ``0`` picks a free one.
        api_keys: ``sb_publishable_`` / ``sb_secret_`` keys mapped to the JWT each stands for.
        **options: Any other :class:`GatewayConfig` field (``schemas``, ``max_rows``, ...).

    Example:
        >>> with Gateway(dsn, secret) as gateway:  # doctest: +SKIP
        ...     client = create_client(gateway.url, service_role_key)
    """

    def __init__(
        self,
        database_url: str,
        jwt_secret: str,
        *,
        port: int = 0,
        api_keys: Mapping[str, str] | None = None,
        **options: Any,
    ) -> None:
        self.config = GatewayConfig(
            database_url=database_url,
            jwt_secret=jwt_secret,
            api_keys=dict(api_keys or {}),
            **options,
        )
        self.host = "127.0.0.1"
        self._port = port
        self._app: GatewayApp | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"Gateway(url={self.url!r}, {state})"

    @property
    def port(self) -> int:
        """The listening port (``0`` until the first start)."""
        return self._port

    @property
    def url(self) -> str:
        """The base URL to give ``create_client`` (``/rest/v1`` is added by supabase-py)."""
        return f"http://{self.host}:{self._port}"

    @property
    def rest_url(self) -> str:
        """The PostgREST root, ``<url>/rest/v1``."""
        return self.url + "/rest/v1"

    @property
    def running(self) -> bool:
        """Whether the server thread is serving."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Gateway:
        """Bind, start serving and wait until ready.

        Returns:
            ``self``.

        Raises:
            RuntimeError: If the server did not start (e.g. the database is unreachable).
        """
        if self.running:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._port))
        self._port = sock.getsockname()[1]
        app = GatewayApp(self.config)
        config = uvicorn.Config(
            app,
            log_config=None,  # never reconfigure the host application's logging
            log_level="warning",
            access_log=False,
            lifespan="on",
            http="auto",  # httptools when installed, else h11
            ws="websockets-sansio",  # /realtime/v1/websocket
            ws_max_size=5_000_000,  # Realtime's max_frame_size; larger frames close with 1009
            timeout_graceful_shutdown=self.config.shutdown_timeout,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="supabase-jobs-gateway", daemon=True
        )
        self._app, self._server, self._thread = app, server, thread
        thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                sock.close()
                raise RuntimeError("the gateway did not start; see the log for the cause")
            time.sleep(0.01)
        # uvicorn's asyncio server now owns ``sock`` and closes it on shutdown.
        return self

    def stop(self) -> None:
        """Stop serving and close the database pool; safe to call twice."""
        server, thread = self._server, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=15)
        self._server = self._thread = self._app = None

    def reload_schema(self) -> None:
        """Re-read tables and functions (call after applying migrations to a running stack)."""
        server, app = self._server, self._app
        if app is None or server is None or not self.running:
            raise RuntimeError("the gateway is not running")
        loop = _server_loop(server)
        asyncio.run_coroutine_threadsafe(app.reload_schema(), loop).result(timeout=30)

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _server_loop(server: uvicorn.Server) -> asyncio.AbstractEventLoop:
    """The event loop uvicorn runs on (found through one of its listening servers)."""
    for srv in getattr(server, "servers", []):
        loop = srv.get_loop()
        if isinstance(loop, asyncio.AbstractEventLoop):
            return loop
    raise RuntimeError("the gateway's event loop is not available")
