"""The io layer: TCP, UDP and Unix sockets (stream and datagram), buffered streams, TLS,
DNS.

Written only against the executor's public names and `runtime.lowlevel`
(a `Source` per socket, made by `socket_source`); nothing here calls epoll
(or any reactor) directly, and a test checks the imports.
"""

from ..errors import IncompleteReadError, LineTooLong
from .dns import getaddrinfo, getnameinfo
from .pipe import PipeStream
from .process import Process, open_process, run_process
from .serve import serve_tcp
from .stream import Stream
from .tcp import TcpListener, TcpStream
from .tls import NeedHandshakeError, TlsStream
from .udp import UdpSocket
from .unix import UnixListener, UnixStream
from .unix_datagram import UnixDatagramSocket

__all__ = [
    "IncompleteReadError",
    "LineTooLong",
    "NeedHandshakeError",
    "PipeStream",
    "Process",
    "Stream",
    "TcpListener",
    "TcpStream",
    "TlsStream",
    "UdpSocket",
    "UnixDatagramSocket",
    "UnixListener",
    "UnixStream",
    "getaddrinfo",
    "getnameinfo",
    "open_process",
    "run_process",
    "serve_tcp",
]
