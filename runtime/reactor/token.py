"""`Token`: the number a registration carries back in its events."""

from typing import NewType

#: Identifies a registration in the events `Poll.poll` returns (mio's ``Token``).
#: The caller picks it: the reactor stores it in the kernel and hands it back
#: untouched. It must fit in 64 unsigned bits. `NewType` keeps it a plain
#: ``int`` at run time, so no object is built per event.
Token = NewType("Token", int)

TOKEN_MAX = (1 << 64) - 1


def check_token(token: int) -> int:
    """Return ``token`` if it is an int in ``[0, 2**64)``, else raise."""
    if type(token) is not int and not isinstance(token, int):
        raise TypeError(f"token must be an int, got {type(token).__name__}")
    if not 0 <= token <= TOKEN_MAX:
        raise ValueError(f"token {token} is outside [0, 2**64)")
    return token
