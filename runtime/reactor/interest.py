"""`Interest`: which readiness a registration asks the kernel to report."""

import enum


class Interest(enum.IntFlag):
    """What to be told about a source; combine with ``|``.

    An empty interest (``Interest(0)``) is refused by `Registry.register` with
    `ValueError`: a registration that asks for nothing is always a bug. Errors
    and hang-ups are reported whatever the interest (the kernel always does).
    """

    READABLE = 0x01
    WRITABLE = 0x02
    PRIORITY = 0x04


def check_interest(interest: Interest) -> Interest:
    """Return ``interest`` as an `Interest`, refusing empty or unknown bits."""
    if not isinstance(interest, int):
        raise TypeError(f"interest must be an Interest, got {type(interest).__name__}")
    if interest == 0:
        raise ValueError("interest must not be empty: ask for READABLE, WRITABLE or PRIORITY")
    # Mask with a plain int: `~` on an IntFlag only flips the known bits, so
    # `~Interest(7)` is 0 and would let unknown bits through.
    if int(interest) & ~int(Interest.READABLE | Interest.WRITABLE | Interest.PRIORITY):
        raise ValueError(f"interest {interest!r} has bits that are not READABLE/WRITABLE/PRIORITY")
    return Interest(interest)
