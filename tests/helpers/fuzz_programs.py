"""Differential fuzzing against trio: generated programs, one interpreter, two frameworks.

A *program* is a tree of `Op` nodes decoded from bytes hypothesis draws
(`programs`, `decode`; hypothesis shrinks the bytes, so the program):
tasks spawned into task groups, nested groups, ``start()``, sleeps,
checkpoints, cancel scopes with deadlines and shields, ``move_on_after`` and
``fail_after``, explicit cancels, raised and caught errors, `Event`, `Lock`,
and channels of capacity 0 or 1 with close. `run_program` interprets it under
trio with ``trio.testing.MockClock(autojump_threshold=0)`` or under `runtime`
with ``runtime.testing.MockClock(autojump_threshold=0)``: no real time passes.

What is compared (`Observed`) is each task's own trace, every step stamped
with the virtual time, and the run's outcome with exception groups flattened.
Tasks are compared one by one, not interleaved: the order in which tasks
ready at the same instant run is not part of trio's contract (trio shuffles
it on purpose). To keep programs from depending on that order, every
duration in a program is a different power of two (`_assign_durations`), so
two timers never expire together by accident; and `compare` runs trio twice,
with each batch of ready tasks run first-woken-first and last-woken-first: a program whose trio
traces differ between the two is *racy*, and `runtime` need only match one
of the orders trio can produce (a few more trio schedules are tried).

The project's deliberate differences from trio are normalised in one place,
`observed_exception`, each with its reason (see docs/architecture.md,
"Where `runtime` and trio differ").
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Awaitable, Callable
from typing import Any

import trio
import trio._core._run as trio_run
import trio.testing
from hypothesis import strategies as st

import runtime
import runtime.testing
from runtime.executor import context
from tests.helpers.trio_compat import describe

#: The errors programs raise and catch.
ERRORS: dict[str, type[Exception]] = {"KeyError": KeyError, "ValueError": ValueError}
#: How many events, locks and channels a program may use.
EVENTS = LOCKS = CHANNELS = 2
#: Virtual seconds after which the run's guard scope cancels everything: a
#: program that deadlocks (a wait no one ends) ends there, the same way in both.
GUARD = float(2**60)


# -- the deliberate differences: the ONE place they are normalised --------------------


def observed_exception(exc: BaseException) -> str:
    """A framework-neutral name for ``exc``, with the documented differences folded.

    1. ``trio.TooSlowError`` is ``TimeoutError``: runtime's ``fail_after``
       raises the built-in on purpose (docs/architecture.md). A single
       exception is named by ``trio_compat.describe``, the side-by-side
       tests' adapter, which folds this one.
    2. A group holding only ``Cancelled`` is ``Cancelled``: runtime re-raises
       one bare ``Cancelled`` where trio (strict exception groups) raises a
       ``BaseExceptionGroup`` of them; either way the outer scope catches it
       (docs/architecture.md).
    3. A group's members are listed sorted: the order of failures that happen
       at the same virtual instant is the scheduler's choice, in trio too.

    (The fourth difference, the cooperative budget, is about scheduling, not
    exceptions: `RuntimeApi.ready` below.)
    """
    if isinstance(exc, BaseExceptionGroup):
        if all(isinstance(e, runtime.Cancelled | trio.Cancelled) for e in _leaves(exc)):
            return "Cancelled"
        kind = "ExceptionGroup" if isinstance(exc, ExceptionGroup) else "BaseExceptionGroup"
        return f"{kind}[{', '.join(sorted(observed_exception(e) for e in exc.exceptions))}]"
    return describe(exc)


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for e in exc.exceptions for leaf in _leaves(e)]
    return [exc]


# -- programs --------------------------------------------------------------------------


@dataclasses.dataclass
class Op:
    """One step of a program; compound steps hold blocks (lists of `Op`)."""

    kind: str
    arg: Any = None  # an error name, a resource index, a scope kind, a cancel depth
    blocks: list[list[Op]] = dataclasses.field(default_factory=list)
    shield: bool = False
    weight: int = -1  # a timed step's rank among the program's durations; -1: none
    duration: float | None = None  # set by _assign_durations
    oid: int = 0  # set by _assign_durations; names the tasks a group or start makes
    pause: float = 0.0  # set by _assign_durations: slept before the step (see there)

    def __repr__(self) -> str:
        bits = [self.kind]
        if self.arg is not None:
            bits.append(repr(self.arg))
        if self.pause:
            bits.append(f"after {self.pause:g}s")
        if self.duration is not None:
            bits.append(f"{self.duration:g}s")
        if self.shield:
            bits.append("shield")
        inner = "".join(f" {b!r}" for b in self.blocks)
        return f"({' '.join(bits)}{inner})"


@dataclasses.dataclass
class Program:
    """A top group running ``tasks`` (spawned) while ``main`` runs its body."""

    capacities: list[int]
    tasks: list[list[Op]]
    main: list[Op]

    def __repr__(self) -> str:
        return f"Program(capacities={self.capacities}, tasks={self.tasks!r}, main={self.main!r})"


#: Step kinds, simplest first (a tape of small numbers, what hypothesis
#: shrinks towards, decodes to a program of simple steps), each as often as
#: it is listed: raising is rarer than catching, or most programs would be
#: over at their first error.
LEAVES = ("checkpoint", "sleep", "sleep", "raise", "cancel", "event_set", "event_wait", "send",
          "send", "recv", "recv", "close_send", "close_recv", "checkpoint", "event_set",
          "event_wait")
COMPOUNDS = ("scope", "try", "group", "start", "lock", "scope", "try", "group", "start", "scope")
#: Steps that act on other tasks, wait on them or look for cancellation: each
#: pauses first (`_assign_durations`).
PAUSED = frozenset(("checkpoint", "raise", "cancel", "event_set", "event_wait", "send", "recv",
                    "close_send", "close_recv", "lock"))
SCOPE_KINDS = ("cancel_scope", "move_on_after", "fail_after")
MAX_DEPTH = 3
MAX_STEPS = 20
MAX_BLOCK = 4


class _Tape:
    """Small numbers read off hypothesis's bytes; 0 once they run out (the simplest)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0
        self.steps = 0

    def take(self, n: int) -> int:
        if self.at >= len(self.data):
            return 0
        self.at += 1
        return self.data[self.at - 1] % n


def _block(tape: _Tape, depth: int) -> list[Op]:
    block = []
    for _ in range(tape.take(MAX_BLOCK + 1)):
        if tape.steps >= MAX_STEPS:
            break
        tape.steps += 1
        block.append(_step(tape, depth))
    return block


def _step(tape: _Tape, depth: int) -> Op:
    kinds = LEAVES + COMPOUNDS if depth < MAX_DEPTH else LEAVES
    kind = kinds[tape.take(len(kinds))]
    if kind == "sleep":
        return Op(kind, weight=tape.take(14) - 1)
    if kind == "cancel":
        return Op(kind, tape.take(4))
    if kind in ("raise", "try"):
        arg = sorted(ERRORS)[tape.take(len(ERRORS))]
        return Op(kind, arg, [_block(tape, depth + 1)] if kind == "try" else [])
    if kind in ("event_set", "event_wait", "send", "recv", "close_send", "close_recv"):
        return Op(kind, tape.take(EVENTS))
    if kind == "scope":
        scope_kind = SCOPE_KINDS[tape.take(len(SCOPE_KINDS))]
        shield = bool(tape.take(2))
        weight = tape.take(14) - 1
        return Op(kind, scope_kind, [_block(tape, depth + 1)], shield, weight)
    if kind == "group":
        body = _block(tape, depth + 1)
        kids = [_block(tape, depth + 1) for _ in range(1 + tape.take(3))]
        return Op(kind, None, [body, *kids])
    if kind == "start":
        return Op(kind, None, [_block(tape, depth + 1), _block(tape, depth + 1)])
    if kind == "lock":
        return Op(kind, tape.take(LOCKS), [_block(tape, depth + 1)])
    return Op(kind)


def build(capacities: list[int], tasks: list[list[Op]], main: list[Op]) -> Program:
    """A program written by hand (a regression example), timed as generated ones are."""
    return _assign_durations(Program(capacities, tasks, main))


def decode(data: bytes) -> Program:
    """The program ``data`` spells (any bytes spell one; shorter and smaller is simpler)."""
    tape = _Tape(data)
    capacities = [tape.take(2) for _ in range(CHANNELS)]
    tasks = [_block(tape, 1) for _ in range(tape.take(4))]
    return _assign_durations(Program(capacities, tasks, _block(tape, 0)))


def _assign_durations(program: Program) -> Program:
    """Give every timed step a distinct power of two and every step an id.

    Every step that acts on other tasks, waits on them, or looks for
    cancellation (checkpoint, cancel, raise, Event, Lock, channels) first
    pauses for its own duration, and every sleep has one: so each such
    step happens at a virtual instant of its own, and what a program shows
    follows from causality and virtual time only, never from the order in
    which the scheduler runs tasks ready at the same instant (trio shuffles
    that order, and runtime's cooperative budget makes ready operations no
    schedule point). Sums of distinct powers of two coincide only along one
    chain of causes. A shielded scope always gets a deadline, so a shield
    cannot keep a deadlocked program alive past the guard.
    """
    timed: list[Op] = []
    counter = 0

    def walk(block: list[Op]) -> None:
        nonlocal counter
        for op in block:
            counter += 1
            op.oid = counter
            if op.kind == "scope" and op.shield and op.weight < 0:
                op.weight = 13
            if op.kind in ("sleep", "scope") and op.weight >= 0:
                timed.append(op)
            elif op.kind == "sleep":
                op.weight = 0
                timed.append(op)
            if op.kind in PAUSED:
                timed.append(op)
            for inner in op.blocks:
                walk(inner)

    for block in (*program.tasks, program.main):
        walk(block)
    for rank, op in enumerate(sorted(timed, key=lambda o: o.weight)):
        if op.kind in PAUSED:
            op.pause = 2.0**rank
        else:
            # A scope may be over as it begins (move_on_after(0)); a sleep
            # takes a duration of its own like any step that others can see.
            zero = op.kind == "scope" and op.weight == 0 and not op.shield
            op.duration = 0.0 if zero else 2.0**rank
    return program


#: Programs, for ``@given``: one draw of bytes each (drawing a tree step by
#: step costs hypothesis ~30 ms a program; this costs well under one).
programs = st.binary(min_size=64, max_size=192).map(decode)


# -- the two frameworks ------------------------------------------------------------------


class Api:
    """The calls the interpreter makes; `RuntimeApi` and `TrioApi` map them one to one."""

    name: str

    def run(self, main: Callable[[], Awaitable[None]]) -> None:
        raise NotImplementedError


class RuntimeApi(Api):
    name = "runtime"
    Event = runtime.Event
    Lock = runtime.Lock
    current_time = staticmethod(runtime.current_time)
    sleep = staticmethod(runtime.sleep)
    checkpoint = staticmethod(runtime.checkpoint)
    move_on_after = staticmethod(runtime.move_on_after)
    fail_after = staticmethod(runtime.fail_after)
    CancelScope = runtime.CancelScope
    TaskGroup = runtime.TaskGroup

    def run(self, main: Callable[[], Awaitable[None]]) -> None:
        runtime.run(main(), clock=runtime.testing.MockClock(autojump_threshold=0))  # type: ignore[arg-type]

    @staticmethod
    async def ready(operation: Awaitable[Any], *, then: Callable[[], Any]) -> Any:
        """Deliberate difference 4, the cooperative budget (docs/architecture.md).

        An operation that completes at once (a set Event, a free Lock, room
        or data in a channel) is a cancellation point in runtime but not a
        schedule point (tokio's coop: the task yields only every 128 such
        operations); in trio it is also a schedule point. The fuzzer compares
        what follows from the scheduling trio promises, so after such an
        operation runtime yields here the way trio's would: ``then`` is
        `runtime.yield_now` where trio does ``cancel_shielded_checkpoint``
        (send, receive, Lock) and `runtime.checkpoint` where trio does a full
        ``checkpoint`` (``Event.wait`` on a set Event). The budget tells
        whether the operation waited: one unit spent and no new step begun.
        """
        runner = context.runner()
        before = runner.budget
        result = await operation
        if runner.budget == before - 1:
            await then()
        return result

    def channel(self, capacity: int) -> tuple[Any, Any]:
        return runtime.channel(capacity)

    async def receive(self, rx: Any) -> Any:
        return await rx.recv()

    def spawn(self, group: Any, fn: Callable[..., Awaitable[None]], *args: Any) -> None:
        group.spawn(fn(*args))


class TrioApi(Api):
    name = "trio"
    Event = trio.Event
    Lock = trio.Lock
    current_time = staticmethod(trio.current_time)
    sleep = staticmethod(trio.sleep)
    checkpoint = staticmethod(trio.lowlevel.checkpoint)
    move_on_after = staticmethod(trio.move_on_after)
    fail_after = staticmethod(trio.fail_after)
    CancelScope = trio.CancelScope

    def __init__(self, schedule: Callable[[], float] | None = None) -> None:
        #: trio runs a batch of ready tasks first-woken-first when this
        #: returns < 0.5, else last-woken-first (it pops from the batch's end).
        self.schedule = schedule

    def run(self, main: Callable[[], Awaitable[None]]) -> None:
        # trio's hypothesis plugin turns on its "deterministic" scheduling
        # (a seeded shuffle); off here, so ``schedule`` alone picks the order.
        saved = trio_run._r, trio_run._ALLOW_DETERMINISTIC_SCHEDULING
        if self.schedule is not None:
            trio_run._r = _FixedRandom(self.schedule)  # type: ignore[assignment]
        trio_run._ALLOW_DETERMINISTIC_SCHEDULING = False  # type: ignore[misc]
        try:
            trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
        finally:
            trio_run._r, trio_run._ALLOW_DETERMINISTIC_SCHEDULING = saved  # type: ignore[misc]

    @staticmethod
    async def ready(operation: Awaitable[Any], *, then: Callable[[], Any]) -> Any:
        return await operation

    def TaskGroup(self) -> Any:
        return trio.open_nursery(strict_exception_groups=True)

    def channel(self, capacity: int) -> tuple[Any, Any]:
        return trio.open_memory_channel(capacity)

    async def receive(self, rx: Any) -> Any:
        return await rx.receive()

    def spawn(self, group: Any, fn: Callable[..., Awaitable[None]], *args: Any) -> None:
        group.start_soon(fn, *args)


class _FixedRandom(random.Random):
    def __init__(self, draw: Callable[[], float]) -> None:
        super().__init__()
        self._draw = draw

    def random(self) -> float:
        return self._draw()


# -- the interpreter ---------------------------------------------------------------------


@dataclasses.dataclass
class Observed:
    """What a run shows: each task's steps stamped with virtual time, and the outcome."""

    traces: dict[str, list[str]]
    outcome: str


class _Interpreter:
    def __init__(self, api: Any, program: Program) -> None:
        self.api = api
        self.program = program
        self.traces: dict[str, list[str]] = {}
        self.sent: dict[str, int] = {}

    async def full_checkpoint(self) -> None:
        await runtime.checkpoint()

    async def schedule_point(self) -> None:
        await runtime.yield_now()

    def note(self, who: str, what: str) -> None:
        self.traces.setdefault(who, []).append(f"{self.api.current_time()!r} {what}")

    async def main(self) -> None:
        api = self.api
        self.events = [api.Event() for _ in range(EVENTS)]
        self.locks = [api.Lock() for _ in range(LOCKS)]
        self.channels = [api.channel(c) for c in self.program.capacities]
        with api.CancelScope(deadline=GUARD) as guard:
            async with api.TaskGroup() as group:
                for i, block in enumerate(self.program.tasks):
                    api.spawn(group, self.task, f"t{i}", block, group, [group.cancel_scope])
                await self.block("main", self.program.main, group, [group.cancel_scope])
        if guard.cancelled_caught:
            self.note("main", "guard: deadlocked until the guard's deadline")

    async def task(self, who: str, block: list[Op], group: Any, scopes: list[Any]) -> None:
        self.note(who, "begins")
        await self.block(who, block, group, scopes)
        self.note(who, "returns")

    async def block(self, who: str, block: list[Op], group: Any, scopes: list[Any]) -> None:
        for op in block:
            try:
                if op.pause:
                    await self.api.sleep(op.pause)
                await self.step(who, op, group, scopes)
            except BaseException as exc:
                self.note(who, f"{op.kind} raised {observed_exception(exc)}")
                raise

    async def step(self, who: str, op: Op, group: Any, scopes: list[Any]) -> None:
        api = self.api
        kind = op.kind
        if kind == "sleep":
            await api.sleep(op.duration)
            self.note(who, "slept")
        elif kind == "checkpoint":
            await api.checkpoint()
            self.note(who, "checkpoint")
        elif kind == "cancel":
            if not scopes:
                self.note(who, "no scope to cancel")
                return
            scope = scopes[-1 - op.arg % len(scopes)]
            scope.cancel()
            self.note(who, f"cancelled scope {len(scopes) - 1 - op.arg % len(scopes)}")
        elif kind == "raise":
            raise ERRORS[op.arg](who)
        elif kind == "event_set":
            self.events[op.arg].set()
            self.note(who, f"set event {op.arg}")
        elif kind == "event_wait":
            await api.ready(self.events[op.arg].wait(), then=self.full_checkpoint)
            self.note(who, f"event {op.arg} is set")
        elif kind == "send":
            n = self.sent[who] = self.sent.get(who, 0) + 1
            await api.ready(self.channels[op.arg][0].send(f"{who}#{n}"), then=self.schedule_point)
            self.note(who, f"sent {who}#{n} on {op.arg}")
        elif kind == "recv":
            value = await api.ready(api.receive(self.channels[op.arg][1]), then=self.schedule_point)
            self.note(who, f"received {value} on {op.arg}")
        elif kind == "close_send":
            self.channels[op.arg][0].close()
            self.note(who, f"closed sender {op.arg}")
        elif kind == "close_recv":
            self.channels[op.arg][1].close()
            self.note(who, f"closed receiver {op.arg}")
        elif kind == "scope":
            await self.scope(who, op, group, scopes)
        elif kind == "try":
            try:
                await self.block(who, op.blocks[0], group, scopes)
            except ERRORS[op.arg]:
                self.note(who, f"caught {op.arg}")
        elif kind == "group":
            async with api.TaskGroup() as inner:
                for i, kid in enumerate(op.blocks[1:]):
                    api.spawn(inner, self.task, f"{who}.{op.oid}.{i}", kid, inner,
                              [inner.cancel_scope])
                await self.block(who, op.blocks[0], inner, [*scopes, inner.cancel_scope])
            self.note(who, "group done")
        elif kind == "start":
            value = await group.start(self.started_task, f"{who}.{op.oid}", op, group)
            self.note(who, f"start returned {value}")
        elif kind == "lock":
            lock = self.locks[op.arg]
            await api.ready(lock.acquire(), then=self.schedule_point)
            try:
                self.note(who, f"holds lock {op.arg}")
                await self.block(who, op.blocks[0], group, scopes)
            finally:
                lock.release()
            self.note(who, f"released lock {op.arg}")
        else:  # pragma: no cover - the strategy makes no other kind
            raise AssertionError(kind)

    async def scope(self, who: str, op: Op, group: Any, scopes: list[Any]) -> None:
        api = self.api
        seconds = math.inf if op.duration is None else op.duration
        if op.arg == "cancel_scope":
            deadline = api.current_time() + seconds
            cm = api.CancelScope(deadline=deadline, shield=op.shield)
        elif op.arg == "move_on_after":
            cm = api.move_on_after(seconds, shield=op.shield)
        else:
            cm = api.fail_after(seconds, shield=op.shield)
        with cm as scope:
            await self.block(who, op.blocks[0], group, [*scopes, scope])
        self.note(who, f"{op.arg} done, caught={scope.cancelled_caught}")

    async def started_task(self, who: str, op: Op, group: Any, *, task_status: Any) -> None:
        before, after = op.blocks
        self.note(who, "begins")
        await self.block(who, before, group, [])
        task_status.started(who)
        self.note(who, "called started")
        await self.block(who, after, group, [])
        self.note(who, "returns")


def run_program(api: Any, program: Program) -> Observed:
    """Run ``program`` on ``api``; what it shows."""
    interpreter = _Interpreter(api, program)
    try:
        api.run(interpreter.main)
    except BaseException as exc:
        outcome = "raised " + ", ".join(sorted(observed_exception(e) for e in _leaves(exc)))
    else:
        outcome = "returned"
    return Observed(interpreter.traces, outcome)


@dataclasses.dataclass
class Verdict:
    """`compare`'s answer: equal or not, whether trio's order mattered, and the runs."""

    equal: bool
    racy: bool
    runtime: Observed
    trio: list[Observed]


#: trio schedules tried for a racy program after in-order and reversed batches.
_EXTRA_TRIO_SCHEDULES = 6


def compare(program: Program) -> Verdict:
    """Run ``program`` under runtime and trio; equal if runtime shows what trio can."""
    ours = run_program(RuntimeApi(), program)
    in_order = run_program(TrioApi(lambda: 0.9), program)
    if ours == in_order:
        reversed_ = run_program(TrioApi(lambda: 0.1), program)
        return Verdict(True, reversed_ != in_order, ours, [in_order, reversed_])
    reversed_ = run_program(TrioApi(lambda: 0.1), program)
    seen = [in_order, reversed_]
    if reversed_ == in_order:
        return Verdict(False, False, ours, seen)
    if reversed_ == ours:
        return Verdict(True, True, ours, seen)
    for seed in range(_EXTRA_TRIO_SCHEDULES):
        rng = random.Random(seed)
        seen.append(run_program(TrioApi(rng.random), program))
        if seen[-1] == ours:
            return Verdict(True, True, ours, seen)
    return Verdict(False, True, ours, seen)


def explain(program: Program, verdict: Verdict) -> str:
    """A readable report of a divergence: the program, then each task's traces."""
    lines = [repr(program), f"runtime outcome: {verdict.runtime.outcome}"]
    trio_first = verdict.trio[0]
    lines.append(f"trio outcome:    {trio_first.outcome}")
    for who in sorted(set(verdict.runtime.traces) | set(trio_first.traces)):
        ours = verdict.runtime.traces.get(who, [])
        theirs = trio_first.traces.get(who, [])
        if ours != theirs:
            lines.append(f"task {who}:\n  runtime: {ours}\n  trio:    {theirs}")
    return "\n".join(lines)
