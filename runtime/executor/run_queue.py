"""`RunQueue`: the tasks that are ready to take a step, in FIFO order."""

from __future__ import annotations

from collections import deque

#: A deque: append and popleft are O(1) and atomic under the GIL. FIFO order
#: is what makes waking fair: a task woken first runs first.
RunQueue = deque
