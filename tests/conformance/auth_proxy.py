"""A loopback HTTP proxy that adds `Authorization: Bearer <token>` to every request, the way an
operator fronts the server for a client that cannot send a token (the official conformance
suite sends none). Each client connection carries one request (`Connection: close` both ways);
bytes stream through unchanged otherwise, so SSE responses arrive as the server sends them."""

import asyncio
import threading

MAX_HEAD = 64 * 1024
DROPPED = (b"authorization:", b"connection:", b"keep-alive:", b"proxy-connection:")


class AuthProxy:
    def __init__(self, upstream_port, token):
        self.upstream_port = upstream_port
        self.token = token.encode()
        self.port = None
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._server = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("auth proxy did not start")
        return self

    def __exit__(self, *exc):
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self):
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0, limit=MAX_HEAD)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, reader, writer):
        upstream_writer = None
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head[:-4].split(b"\r\n")
            kept = [line for line in lines[1:] if not line.lower().startswith(DROPPED)]
            head = b"\r\n".join(
                [
                    lines[0],
                    *kept,
                    b"Authorization: Bearer " + self.token,
                    b"Connection: close",
                ]
            )
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", self.upstream_port
            )
            upstream_writer.write(head + b"\r\n\r\n")
            # The request body streams up while the answer streams down; once the server has
            # answered and closed, the exchange is over whatever the client still holds open.
            upward = asyncio.ensure_future(_pipe(reader, upstream_writer))
            await _pipe(upstream_reader, writer)
            upward.cancel()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass
        finally:
            for w in (writer, upstream_writer):
                if w is not None:
                    w.close()


async def _pipe(reader, writer):
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except OSError:
        pass
    finally:
        if writer.can_write_eof():
            try:
                writer.write_eof()
            except OSError:
                pass
