"""Channels: the bounded `channel`, `oneshot` and `broadcast`, one module each.

* `channel` (``mpsc.py``): a bounded queue, any number of senders and
  receivers, each message to one receiver, in order (trio's memory channel,
  tokio's ``sync/mpsc``); ``capacity=0`` is a rendezvous.
* `oneshot` (``oneshot.py``): a slot for exactly one value (tokio's
  ``sync/oneshot.rs``).
* `broadcast` (``broadcast.py``): every subscriber gets every message, from
  one shared ring in which each has its own position; one that falls more
  than ``capacity`` behind gets `Lagged` instead of stalling the sender
  (tokio's ``sync/broadcast.rs``).

``runtime.channel(16)`` is the function; this package is ``runtime.channels``.
"""

from .broadcast import BroadcastReceiver, BroadcastSender, broadcast
from .mpsc import Receiver, Sender, channel
from .oneshot import OneshotReceiver, OneshotSender, oneshot

__all__ = [
    "BroadcastReceiver",
    "BroadcastSender",
    "OneshotReceiver",
    "OneshotSender",
    "Receiver",
    "Sender",
    "broadcast",
    "channel",
    "oneshot",
]
