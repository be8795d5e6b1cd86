"""runtime: an async runtime built like Tokio on mio.

Layers (each uses only the one below): `runtime.reactor` (the OS event queue),
`runtime.executor` (tasks, wakers, the run loop), `runtime.io` (sockets).
"""
