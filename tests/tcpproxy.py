"""A tiny threaded loopback TCP proxy whose live connections a test can cut.

`TcpProxy(target_port)` listens on 127.0.0.1 on a free port and forwards every
connection to the target; `cut()` drops every live connection at once (both
sides see the socket close), while the proxy keeps accepting new ones.
"""
from __future__ import annotations

import selectors
import socket
import threading


class TcpProxy:
    """Forward 127.0.0.1:<port> to target_host:target_port, one thread per connection."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.host = "127.0.0.1"
        self._listener = socket.create_server((self.host, 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pipes: list[_Pipe] = []
        self._closed = False
        self.accepted = 0
        self._thread = threading.Thread(target=self._accept_loop, name="tcpproxy-accept", daemon=True)
        self._thread.start()

    def __enter__(self) -> "TcpProxy":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def live(self) -> int:
        """How many connections are open right now."""
        with self._lock:
            return sum(1 for p in self._pipes if p.thread.is_alive())

    def cut(self) -> int:
        """Close every live connection; returns how many there were."""
        with self._lock:
            pipes, self._pipes = self._pipes, []
        for pipe in pipes:
            pipe.cut()
        for pipe in pipes:
            pipe.thread.join(5)
        return len(pipes)

    def close(self) -> None:
        """Stop listening and cut everything; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        self._thread.join(5)
        self.cut()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # the listener was closed
            try:
                upstream = socket.create_connection(self.target, timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            pipe = _Pipe(client, upstream)
            with self._lock:
                if self._closed:
                    pipe.cut()
                    pipe.thread.join(5)
                    return
                self._pipes = [p for p in self._pipes if p.thread.is_alive()]
                self._pipes.append(pipe)
                self.accepted += 1
            pipe.thread.start()


class _Pipe:
    """Both sockets of one proxied connection and the thread that copies between them."""

    def __init__(self, a: socket.socket, b: socket.socket):
        self.a, self.b = a, b
        self.thread = threading.Thread(target=self._run, name="tcpproxy-pipe", daemon=True)

    def cut(self) -> None:
        # shutdown() wakes the copying thread (recv returns b""); it closes the sockets.
        for sock in (self.a, self.b):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if not self.thread.is_alive() and self.thread.ident is None:
            self._close()  # never started

    def _run(self) -> None:
        peer = {self.a: self.b, self.b: self.a}
        try:
            with selectors.DefaultSelector() as sel:
                sel.register(self.a, selectors.EVENT_READ)
                sel.register(self.b, selectors.EVENT_READ)
                while True:
                    for key, _ in sel.select():
                        data = key.fileobj.recv(65536)
                        if not data:
                            return
                        peer[key.fileobj].sendall(data)
        except OSError:
            return
        finally:
            for sock in (self.a, self.b):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._close()

    def _close(self) -> None:
        self.a.close()
        self.b.close()
