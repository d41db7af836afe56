"""A TCP proxy on 127.0.0.1 that tests can cut, hang and restore, standing in for a
server that goes away mid-run (the shared PostgreSQL cluster itself is never stopped).

- ``stop()`` / ``start()``: the server vanishes (connections reset, new ones refused)
  and comes back.
- ``hang()`` / ``resume()``: the server stops answering without resetting anything: open
  connections stay open and forward nothing in either direction, new connections are
  accepted and get nothing either (not even the server's greeting). ``resume()`` closes
  every connection that lived through the hang and forwards normally again.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class TcpProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._flowing = threading.Event()
        self._flowing.set()
        self.accepted = 0  # connections accepted so far (tests read it to see a connect happen)

    @property
    def hung(self) -> bool:
        return not self._flowing.is_set()

    def start(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        self._listener = sock
        threading.Thread(target=self._accept, args=(sock,), daemon=True).start()

    def stop(self) -> None:
        """Refuse new connections and cut every open one."""
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        self._cut_all()

    def hang(self) -> None:
        """Keep every connection open but forward nothing, in either direction; keep
        accepting new connections and give them nothing either."""
        self._flowing.clear()

    def resume(self) -> None:
        """Close the connections that lived through the hang, then forward again."""
        with self._lock:
            self._cut_all_locked()
            self._flowing.set()

    def _cut_all(self) -> None:
        with self._lock:
            self._cut_all_locked()

    def _cut_all_locked(self) -> None:
        conns, self._conns = self._conns, []
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            c.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            self.accepted += 1
            with self._lock:
                if not self._flowing.is_set():
                    # Hung: the connection is accepted and then nothing ever comes back.
                    self._conns.append(client)
                    continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                self._flowing.wait()  # hung: read nothing more
                data = src.recv(65536)
                if not data:
                    break
                # Read just before a hang: hold it. resume() cuts this connection, so
                # the held bytes are never delivered late into a fresh exchange.
                self._flowing.wait()
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
