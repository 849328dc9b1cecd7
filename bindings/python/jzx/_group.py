"""Group: a jzx_group, loops that share one id space and run on one thread
each, as Loops that share one _Runtime (see _loop's docstring).

jzx_group_run runs loop 0 on the calling thread and the others on threads
it starts. ctypes lets go of the GIL for the call, and every behaviour, hook
and on_drop of those loops takes it for its own call: Python code of the
group runs on several threads, one call at a time.
"""

import threading
import warnings
from ctypes import byref

from ._ffi import lib
from ._loop import Loop, _id, _numbers, _Runtime, _u32
from ._types import Err, JzxError, check

#: jzx_group_create takes at most this many loops.
MAX_LOOPS = 256


def actor_loop_index(actor):
    """jzx_actor_loop_index (0.2): the index, in its Group, of the loop that
    owns `actor` (from the id's bits; 0 for a lone Loop's actors). Any
    thread."""
    return lib.jzx_actor_loop_index(_id(actor))


class Group:
    """A jzx_group (0.2): `loops` loops (0: one per online CPU, at most
    256) with one id space. An actor of any loop reaches an actor of any
    other with send(), request(), monitor(), link() and names, as if they
    shared a loop; each loop runs on its own thread.

    The keyword arguments are Loop's, for every loop: the six numbers, and
    on_drop, clock and on_error, which the loops share and which run on
    whichever loop's thread has something for them (on_drop on the target's
    loop). `loops` is a tuple of Loop objects, group.loops[i] being loop i.

        with jzx.Group(loops=2) as group:
            a = group.loops[0].spawn(ping)
            b = group.loops[1].spawn(pong)
            group.loops[0].send(b, a)   # from loop 0 to an actor of loop 1
            group.run()                 # loop 0 here, loop 1 on a new thread

    Before run(), the creating thread may use every loop's methods (spawn,
    supervisors, timers, watches). During run(), loop i's methods belong to
    loop i's thread: a behaviour uses its own ctx.loop, and reaches other
    loops' actors through it (send, spawn_on, ...). Only request_stop() and
    a loop's send_async() may be called from any thread.

    Python objects sent between loops stay alive until they are delivered
    or handed to on_drop, whichever loop that happens on.
    """

    def __init__(
        self,
        loops=0,
        *,
        max_actors=0,
        mailbox_cap=0,
        max_msgs_per_actor=0,
        max_actors_per_tick=0,
        max_io_watchers=0,
        io_poll_timeout_ms=0,
        on_drop=None,
        clock=None,
        on_error=None,
    ):
        self._ptr = None
        self._running = False
        self._ptr_lock = threading.RLock()  # request_stop (any thread) against close()
        self.loops = ()
        count = _u32(loops, "loops")
        if count > MAX_LOOPS:
            raise ValueError(f"a Group has at most {MAX_LOOPS} loops, not {count}")
        rt = _Runtime(on_drop, clock, on_error)
        numbers = _numbers(
            max_actors,
            mailbox_cap,
            max_msgs_per_actor,
            max_actors_per_tick,
            max_io_watchers,
            io_poll_timeout_ms,
        )
        cfg = rt.config(numbers)
        ptr = lib.jzx_group_create(count, byref(cfg))
        if not ptr:
            raise JzxError(Err.NO_MEMORY, "jzx_group_create")
        self._rt = rt
        try:
            self.loops = tuple(
                Loop._member(self, rt, lib.jzx_group_loop(ptr, i), i)
                for i in range(lib.jzx_group_size(ptr))
            )
        except BaseException:
            lib.jzx_group_destroy(ptr)
            raise
        self._ptr = ptr
        rt.stop = self._stop_run

    # ---- the loops ---------------------------------------------------------

    @property
    def size(self):
        """jzx_group_size: how many loops."""
        return len(self.loops)

    def __len__(self):
        return len(self.loops)

    def __getitem__(self, index):
        return self.loops[index]

    def __iter__(self):
        return iter(self.loops)

    def loop_of(self, actor):
        """The Loop that owns `actor` (jzx_actor_loop_index). IndexError for
        an id that names no loop of this group's size."""
        return self.loops[actor_loop_index(actor)]

    @property
    def pending_payloads(self):
        """How many payloads the group's loops hold (sent, not yet delivered,
        dropped or cancelled), all loops together."""
        with self._rt.lock:
            return len(self._rt.payloads)

    @property
    def live_behaviours(self):
        """How many actor specs and incarnations the group's loops may still
        call back into, all loops together."""
        return len(self._rt.specs) + len(self._rt.runs)

    # ---- lifetime ------------------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_ptr", None) and not self._running:
            warnings.warn("jzx.Group was not closed", ResourceWarning, source=self)
            self.close()

    @property
    def closed(self):
        return self._ptr is None

    def _group(self, call):
        if self._ptr is None:
            raise JzxError(Err.LOOP_CLOSED, call)
        return self._ptr

    def _busy(self):
        """Whether jzx_group_run would refuse: running, or a loop in a hook."""
        return self._running or self._rt.hooks or any(loop._in_hooks for loop in self.loops)

    def _stop_run(self):
        if self._ptr:  # None inside close(), which raises the exit afterwards
            lib.jzx_group_request_stop(self._ptr)

    def run(self):
        """jzx_group_run: run every loop, loop 0 on this thread and the
        others on threads started for the run (and joined before it
        returns). Returns when the whole group is idle (no actor, timer,
        watch or message in flight on any loop) or after request_stop(), and
        may be called again. An exception that stops the run (a
        KeyboardInterrupt in loop 0's Python code) is raised here."""
        ptr = self._group("jzx_group_run")
        if self._busy():
            raise JzxError(Err.LOOP_CLOSED, "jzx_group_run")
        self._running = True
        for loop in self.loops:
            loop._running = True
        try:
            err = lib.jzx_group_run(ptr)  # without the GIL: the loops take it in turn
        finally:
            self._running = False
            for loop in self.loops:
                loop._running = False
        self._rt.take_pending_exit()
        check(err, "jzx_group_run")

    def request_stop(self):
        """jzx_group_request_stop: make run() return (every loop stops after
        its turn in progress); if it is not running, the next run() returns
        at once. Any thread."""
        with self._ptr_lock:
            lib.jzx_group_request_stop(self._group("jzx_group_request_stop"))

    def close(self):
        """jzx_group_destroy: destroy every loop as Loop.close() does (their
        actors' terminate hooks run, pending payloads go to on_drop with
        DropReason.LOOP_DESTROYED, on this thread), then the group. Later
        calls on it or its loops raise JzxError(LOOP_CLOSED). Not from
        inside run() or a hook (JzxError LOOP_CLOSED)."""
        if self._ptr is None:
            return
        if self._busy():
            raise JzxError(Err.LOOP_CLOSED, "jzx_group_destroy (from inside run or a hook)")
        for loop in self.loops:
            loop._stop_nodes()  # before any loop goes
        with self._ptr_lock:
            ptr, self._ptr = self._ptr, None
        for loop in self.loops:
            with loop._ptr_lock:  # its send_async and request_stop, from other threads
                loop._ptr = None
        try:
            lib.jzx_group_destroy(ptr)  # terminate hooks and on_drop run in here
        finally:
            for loop in self.loops:
                loop._forget()
            self._rt.specs.clear()
            self._rt.runs.clear()
            self._rt.loops.clear()
        self._rt.take_pending_exit()
