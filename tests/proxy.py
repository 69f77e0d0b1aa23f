"""A real TCP proxy that a test can cut and restore, to take a dependency "down" and back.

    proxy = TcpProxy("127.0.0.1", 5432)
    await proxy.start()            # listens on 127.0.0.1:<proxy.port>
    await proxy.cut()              # every open connection is reset; new ones are refused
    await proxy.restore()          # listens again on the same port
    await proxy.stop()

Point the client under test at ``proxy.address`` (or ``proxy.port``) instead of the real
server. While cut, nothing listens on the port, so connecting fails at once with
"connection refused", exactly as when the server is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket


class TcpProxy:
    """Forwards every connection on ``host:port`` to ``target_host:target_port``."""

    def __init__(
        self, target_host: str, target_port: int, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.connections = 0  # accepted since start, for tests that want to know

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def is_cut(self) -> bool:
        return self._server is None

    async def start(self) -> None:
        """Listen (on a free port the first time; on the same port afterwards)."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(
            self._accept, self.host, self.port, reuse_address=True
        )
        sock: socket.socket = self._server.sockets[0]
        self.port = sock.getsockname()[1]

    async def cut(self) -> None:
        """Stop listening and reset every open connection, both ways."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            transport = writer.transport
            if not transport.is_closing():
                transport.abort()
        self._writers.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), timeout=1)

    async def restore(self) -> None:
        """Listen again on the same port; clients reconnect as they would to a restarted server."""
        await self.start()

    async def stop(self) -> None:
        await self.cut()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._server is None:  # accepted just before a cut
            writer.transport.abort()
            return
        self.connections += 1
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                self.target_host, self.target_port
            )
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, upstream_writer))
        pumps = [
            asyncio.create_task(self._pump(reader, upstream_writer)),
            asyncio.create_task(self._pump(upstream_reader, writer)),
        ]
        self._tasks.update(pumps)
        try:
            await asyncio.gather(*pumps, return_exceptions=True)
        finally:
            self._tasks.difference_update(pumps)
            for side in (writer, upstream_writer):
                self._writers.discard(side)
                if not side.transport.is_closing():
                    side.transport.abort()

    @staticmethod
    async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        """Copy bytes one way until either side closes; then close the other way too."""
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
            if sink.can_write_eof():
                sink.write_eof()
        except (OSError, RuntimeError):
            if not sink.transport.is_closing():
                sink.transport.abort()
