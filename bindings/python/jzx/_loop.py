"""Loop: one jzx_loop, with Python callables as behaviours and Python objects
as payloads.

How Python objects cross the C boundary without the runtime ever touching
them: every payload is parked in a registry under an integer key, and the
key travels as the message's `data` pointer. The key is taken out again
exactly once: when the message reaches a behaviour, when on_drop hands it
back, or when a cancelled timer returns it, so the registry holds only the
payloads in flight.

Actors work the same way, with one C trampoline per hook serving every actor
of the loop (behaviour, init, terminate). What starts an actor is a _Spec
(behaviour, state, init, init_arg, terminate) whose key is both the C spec's
`state` and its `init_arg`. Every Python actor has the init trampoline: at
each start it makes a _Run, the incarnation's behaviour and state, and hands
its key back as the actor's state pointer; jzx_become keeps that key and
the _Run changes instead. The terminate trampoline, which libjzx runs exactly
once per incarnation that started (jzx_loop_destroy included), releases the
_Run. A spawn's _Spec is released as soon as jzx_spawn returns. A child
spec's _Spec lives as long as the supervisor's copy of that spec: until
delete_child, until its index is handed out again (a temporary child's spec
goes when the child ends), or until the supervisor ends. A spec of
spawn_on is used once, by the init trampoline on the target loop; if the
start fails before its init runs, the Spawned note to `notify` releases it.

The registries and the trampolines belong to a _Runtime, which a lone Loop
has for itself and the Loops of a Group share: a payload sent from one loop
to an actor of another is taken out by the loop that delivers or drops it,
and a child spec built on the supervisor's loop starts a child on any other.
The trampolines find the Loop of the call from its C context (on_drop and
the clock, which have none, work on the _Runtime alone). Every loop of a
Group calls into Python from its own thread: ctypes takes the GIL for each
call, and each registry entry is touched by one thread at a time (the loop
of its actor or its message), the payload registry under its own lock.
"""

import ctypes
import itertools
import sys
import threading
import traceback
import warnings
from ctypes import POINTER, byref, c_uint32, c_uint64, cast, pointer

from . import _ffi
from ._ffi import lib
from ._types import (
    ActorInfo,
    ActorStatus,
    ChildExit,
    Down,
    DropReason,
    Err,
    ExitReason,
    ExitSignal,
    IoEvent,
    JzxError,
    Message,
    NoReply,
    Result,
    Spawned,
    Stats,
    _enum,
    check,
)


_KEEP = object()  # Context.become without a state: the state stays


class _Spec:
    """What starts an actor: a spawn's arguments (one start) or a child
    spec's (every start of that child)."""

    __slots__ = ("behaviour", "state", "init", "init_arg", "terminate", "once")

    def __init__(self, behaviour, state, init, init_arg, terminate, once=False):
        self.behaviour, self.state = behaviour, state
        self.init, self.init_arg, self.terminate = init, init_arg, terminate
        self.once = once  # spawn_on's: released by its init


class _Run:
    """One incarnation of an actor, from its init to its terminate: the
    behaviour and state it has now. `key` is the actor's C state pointer."""

    __slots__ = ("key", "behaviour", "state", "terminate")

    def __init__(self, key, spec):
        self.key = key
        self.behaviour, self.state, self.terminate = spec.behaviour, spec.state, spec.terminate


class Context:
    """Handed to a behaviour on every call, and to init and terminate hooks:
    `self` is the actor's own id, `loop` the Loop running it and `state` the
    actor's state (init's result, or the spawn's state). Use it only during
    the call it was handed to."""

    __slots__ = ("self", "loop", "_c", "_run")

    def __init__(self, actor, loop, c=None, run=None):
        self.self = actor
        self.loop = loop
        self._c = c  # the C context, None once the call is over
        self._run = run

    @property
    def state(self):
        return self._run.state if self._run is not None else None

    def become(self, behavior, state=_KEEP):
        """jzx_become: handle the next messages with `behavior`, and with
        `state` if given (else the state stays). The message being handled
        finishes with the old behaviour. Only during the call this context
        was handed to (else JzxError INVALID_ARG); inside init, init's
        result is still the state."""
        if not callable(behavior):
            raise TypeError("behavior must be callable")
        if self._c is None or self._run is None:
            raise JzxError(Err.INVALID_ARG, "jzx_become")
        run = self._run
        # The C side keeps the trampoline and the _Run's key; the _Run changes.
        check(lib.jzx_become(self._c, self.loop._c_behaviour, run.key), "jzx_become")
        run.behaviour = behavior
        if state is not _KEEP:
            run.state = state


def _u32(value, what):
    value = int(value)
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"{what} must fit in 32 bits, got {value}")
    return value


def _id(value):
    value = int(value)
    if not 0 <= value <= 0xFFFFFFFFFFFFFFFF:
        raise ValueError(f"an actor, timer or monitor id is a 64-bit unsigned int, got {value}")
    return value


def _name(name):
    """A registered name as the C string libjzx takes: a str (UTF-8) or
    bytes, without NUL (libjzx itself checks its length, 1..255 bytes)."""
    if isinstance(name, str):
        name = name.encode("utf-8", "surrogateescape")
    elif isinstance(name, (bytes, bytearray)):
        name = bytes(name)
    else:
        raise TypeError(f"a name is a str or bytes, not {type(name).__name__}")
    if b"\0" in name:
        raise ValueError("a name cannot contain NUL")
    return name


def _text(raw):
    """A C string from libjzx (a name) as a str, None for NULL; bytes that
    are not UTF-8 survive as surrogates, so _name() gives them back."""
    return raw.decode("utf-8", "surrogateescape") if raw is not None else None


def _actor_info(c):
    return ActorInfo(
        c.id,
        c.supervisor,
        _text(c.name),
        c.mailbox_len,
        c.mailbox_cap,
        c.messages_handled,
        c.monitors,
        c.links,
        bool(c.is_supervisor),
        bool(c.traps_exits),
    )


_CALL_INSIDE = (
    "Loop.call runs the loop, so it cannot be called while the loop runs, nor from "
    "init, terminate, an observer hook, on_drop or foreach_actor; from a behaviour, "
    "use Loop.request and take the reply as a message"
)


def _print_error(exc, where):
    print(f"jzx: exception in {where}:", file=sys.stderr)
    traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)


class _Runtime:
    """What a lone Loop has for itself and the Loops of a Group share: the
    payload, spec and incarnation registries, on_drop, the clock, on_error,
    and the C trampolines that libjzx calls for every actor."""

    def __init__(self, on_drop, clock, on_error):
        # Payload, spec and incarnation keys, never 0 (NULL); next() on a count is
        # atomic under the GIL, so any thread may draw one.
        self.keys = itertools.count(1)
        self.lock = threading.Lock()  # guards the two registries below
        self.payloads = {}  # key -> (object, (loop pointer, timer id) or None)
        self.timers = {}  # (loop pointer, timer id) -> key
        # Keys that are C memory from jzx_loop_alloc (payloads for proxies,
        # and what codecs decoded), freed when taken out: address -> its len.
        self.buffers = {}
        # Actors of C code (proxies, a node's gateway; not supervisors) on
        # the loops with a Node, whose payloads cross as bytes.
        self.foreign = set()
        self.codec_tags = {}  # tag -> how many Nodes have a codec for it
        self.alloc_ptr = None  # a loop of this runtime, for jzx_loop_free
        # See the module's docstring for who touches these, and when.
        self.specs = {}  # key -> _Spec
        self.runs = {}  # key -> _Run
        self.loops = {}  # C loop pointer -> Loop
        self.on_drop = on_drop
        self.clock = clock
        self.clock_last = 0
        self.clock_lock = threading.Lock()  # a Group's loops ask from their threads
        self.on_error = on_error or _print_error
        # How many on_drop or clock calls are under way (no Loop is known
        # for them); like Loop._in_hooks, jzx_loop_run refuses meanwhile.
        self.hooks = 0
        self.hooks_lock = threading.Lock()
        self.pending_exit = None  # KeyboardInterrupt etc. raised in a callback
        self.stop = None  # the owner's request_stop for the whole run

        # The C callables must outlive the loops: they are attributes here.
        self.c_behaviour = _ffi.behavior_fn(self._behaviour)
        self.c_init = _ffi.init_fn(self._init)
        self.c_terminate = _ffi.terminate_fn(self._terminate)
        self.c_drop = _ffi.drop_fn(self._drop)
        self.c_clock = _ffi.clock_fn(self._clock)

    def config(self, numbers):
        """A jzx_config with the on_drop and clock trampolines and `numbers`
        ({field: value}, 0 keeps the default)."""
        cfg = _ffi.jzx_config()
        lib.jzx_config_init(byref(cfg))
        for name, value in numbers.items():
            if value:
                setattr(cfg, name, _u32(value, name))
        cfg.on_drop = self.c_drop
        if self.clock is not None:
            cfg.clock = self.c_clock
        return cfg

    def park(self, payload):
        key = next(self.keys)
        with self.lock:
            self.payloads[key] = (payload, None)
        return key

    def unpark(self, key):
        with self.lock:
            payload, timer = self.payloads.pop(key)
            if timer is not None:
                del self.timers[timer]
            buffer = self.buffers.pop(key, None)
        if buffer is not None:
            self.free(key)
        return payload

    def free(self, address, ptr=None):
        """jzx_loop_free(address), through `ptr` or any loop of the runtime
        (a Group's loops share one allocator)."""
        ptr = ptr or self.alloc_ptr
        if ptr:
            lib.jzx_loop_free(ptr, address)

    def park_bytes(self, ptr, payload, target, tag, call):
        """Park `payload`, for an actor of C code, as C memory holding its
        bytes: (address, len). bytes, bytearray and memoryview give their
        bytes, str its UTF-8; anything else is a TypeError (a codec for the
        tag makes the node encode it instead)."""
        if isinstance(payload, str):
            raw = payload.encode("utf-8", "surrogateescape")
        elif isinstance(payload, (bytes, bytearray, memoryview)):
            raw = bytes(payload)
        else:
            raise TypeError(
                f"{call}: {target:#x} is an actor of C code (a proxy for an actor of "
                f"another node, say), which gets its payload as bytes: send bytes, "
                f"bytearray, memoryview or str, not {type(payload).__name__}, or give "
                f"tag {tag} a codec (Node.set_codec)"
            )
        n = len(raw)
        address = lib.jzx_loop_alloc(ptr, n or 1)  # never NULL: NULL means no payload
        if not address:
            raise MemoryError(f"{call}: jzx_loop_alloc: no memory for {n} bytes")
        ctypes.memmove(address, raw, n)
        with self.lock:
            self.payloads[address] = (payload, None)
            self.buffers[address] = n
        return address, n

    def park_decoded(self, ptr, payload):
        """Park what a codec decoded at the address of one byte from
        jzx_loop_alloc (a decoded payload is C memory for libjzx-nats),
        which goes with the message at len 0. None if out of memory."""
        address = lib.jzx_loop_alloc(ptr, 1)
        if address:
            with self.lock:
                self.payloads[address] = (payload, None)
                self.buffers[address] = 0
        return address

    def take(self, data, length, sender, ptr=None):
        """The Python payload of a message libjzx hands over (to a behaviour
        or on_drop). A parked key gives its object. Other C memory with a
        non-zero `length` (what libjzx-nats delivers from another node, or
        C code sends) gives its bytes, and is freed with jzx_loop_free: the
        receiver owns it. NULL gives None, or b"" from an actor of C code
        (an empty payload from another node)."""
        if not data:
            return b"" if sender in self.foreign else None
        buffer = None
        with self.lock:
            known = self.buffers.get(data)
            if known is not None and known != length:
                # Memory of ours that libjzx-nats freed itself (a decoded
                # payload it discarded), since reused for this payload.
                del self.buffers[data]
                self.payloads.pop(data, None)
                ours = False
            else:
                ours = length == 0 or data in self.payloads
            if ours:
                payload, timer = self.payloads.pop(data)
                if timer is not None:
                    del self.timers[timer]
                buffer = self.buffers.pop(data, None)
        if not ours:
            payload = ctypes.string_at(data, length)
        if not ours or buffer is not None:
            self.free(data, ptr)
        return payload

    def peek(self, data, length):
        """What take() would give, left in place (a codec's encode)."""
        if data:
            with self.lock:
                entry = self.payloads.get(data)
                if entry is not None and self.buffers.get(data, length) == length:
                    return entry[0]
        return ctypes.string_at(data, length) if data and length else b""

    def report(self, exc, where):
        if not isinstance(exc, Exception):
            # KeyboardInterrupt, SystemExit: stop the run and let it raise it.
            self.pending_exit = exc
            if self.stop is not None:
                self.stop()
            return
        try:
            self.on_error(exc, where)
        except Exception as inner:
            _print_error(inner, "on_error")

    def take_pending_exit(self):
        exc, self.pending_exit = self.pending_exit, None
        if exc is not None:
            raise exc

    def _enter(self):
        with self.hooks_lock:
            self.hooks += 1

    def _leave(self):
        with self.hooks_lock:
            self.hooks -= 1

    # ---- called by libjzx, on a loop's thread -------------------------------

    def _behaviour(self, ctx_p, msg_p):
        ctx = ctx_p.contents
        return self.loops[ctx.loop]._behaviour_call(ctx_p, ctx, msg_p)

    def _init(self, ctx_p, arg, state_p):
        return self.loops[ctx_p.contents.loop]._init_call(ctx_p, arg, state_p)

    def _terminate(self, ctx_p, reason, key):
        self.loops[ctx_p.contents.loop]._terminate_call(ctx_p, reason, key)

    def _drop(self, ctx, target, msg_p, reason):
        msg = msg_p.contents
        self._enter()
        try:
            payload = self.take(msg.data, msg.len, msg.sender)
            if self.on_drop is not None:
                self.on_drop(target, payload, msg.tag, _enum(DropReason, reason))
        except BaseException as exc:
            self.report(exc, "on_drop")
        finally:
            self._leave()

    def _clock(self, ctx):
        self._enter()
        try:
            with self.clock_lock:
                now = int(self.clock())
                if now > self.clock_last:
                    self.clock_last = now
        except BaseException as exc:
            self.report(exc, "clock")
        finally:
            self._leave()
        return self.clock_last  # never backwards, even if the callable errs


def _numbers(
    max_actors,
    mailbox_cap,
    max_msgs_per_actor,
    max_actors_per_tick,
    max_io_watchers,
    io_poll_timeout_ms,
):
    """The jzx_config numbers Loop and Group take, by field name."""
    return {
        "max_actors": max_actors,
        "default_mailbox_cap": mailbox_cap,
        "max_msgs_per_actor": max_msgs_per_actor,
        "max_actors_per_tick": max_actors_per_tick,
        "max_io_watchers": max_io_watchers,
        "io_poll_timeout_ms": io_poll_timeout_ms,
    }


class Loop:
    """A jzx_loop. The thread that calls run() owns it: behaviours, observer
    hooks, on_drop and the clock run there, and every method except
    send_async and request_stop must be called from it (docs/threading.md).
    The loops of a Group are Loops too (Group.loops), made and closed by
    their Group, and run with it (see Group).

    Keyword arguments (0 = the default): max_actors, mailbox_cap (sets
    jzx_config.default_mailbox_cap), max_msgs_per_actor, max_actors_per_tick,
    max_io_watchers and io_poll_timeout_ms set those jzx_config fields; plus:
      on_drop(target, payload, tag, reason): gets every accepted payload that
          could not be delivered (reason is a DropReason);
      clock(): milliseconds, never going backwards (default: monotonic);
      on_error(exc, where): called with an exception a behaviour, hook,
          terminate, on_drop or the init of a supervisor's restart raised
          (default: print the traceback to stderr). A behaviour that raises
          fails its actor, as if it had returned Result.FAIL; an init that
          raises fails its start (a direct start call raises JzxError).

    Close it with close() or a `with` block: that destroys the loop, handing
    every pending payload to on_drop with DropReason.LOOP_DESTROYED.
    """

    def __init__(
        self,
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
        self._ptr = None
        ptr = lib.jzx_loop_create(byref(cfg))
        if not ptr:
            raise JzxError(Err.NO_MEMORY, "jzx_loop_create")
        try:
            self._attach(rt, ptr, None, 0)
        except BaseException:
            lib.jzx_loop_destroy(ptr)
            raise
        rt.stop = self._stop_run

    @classmethod
    def _member(cls, group, rt, ptr, index):
        """The Loop of loop `index` of a Group (which destroys it)."""
        self = cls.__new__(cls)
        self._ptr = None
        self._attach(rt, ptr, group, index)
        return self

    def _attach(self, rt, ptr, group, index):
        self._rt = rt
        self._group = group
        self._index = index
        self._running = False
        # How deep we are in init, terminate, observer hooks or foreach_actor
        # callbacks, where jzx_loop_run refuses (call() checks).
        self._in_hooks = 0
        # This loop's thread only (or the creator's while nothing runs).
        self._children = {}  # supervisor id -> {child index: (spec keys, buffers)}
        self._start_failures = None  # exceptions of inits, while a start call is on
        self._spawn_notes = {}  # notify actor -> {spawn_on ticket: spec key}
        # Nodes (libjzx-nats) attached to this loop, stopped before it closes.
        self._nodes = []
        # This loop's live Python actors (started through the init
        # trampoline): with a Node, any other actor that starts is C code's.
        self._python_actors = set()
        self._c_track = None  # the observer that tells C code's actors, from the first Node
        # Serialises send_async/request_stop (any thread) against close().
        self._ptr_lock = threading.RLock()

        self._c_behaviour = rt.c_behaviour
        self._c_init = rt.c_init
        self._c_terminate = rt.c_terminate
        # Observers: every Python observer is a jzx_observer of the same
        # trampolines, told apart by its ctx, a key into _observers.
        hook_types = dict(_ffi.jzx_observer._fields_)
        self._c_hooks = [ftype(getattr(self, "_hook_" + h)) for h, ftype in hook_types.items()]
        self._observers = {}  # key -> observer: set_observer's and the added ones
        self._first = None  # set_observer's key (the C first slot)
        self._added = []  # [(key, observer, jzx_observer)], in the order added
        # The bindings' own bookkeeping (a supervisor's child specs go with
        # it) is an added observer too: the first slot stays the program's.
        self._c_own = _ffi.jzx_observer(
            on_actor_stop=hook_types["on_actor_stop"](self._own_actor_stop)
        )
        err = lib.jzx_loop_add_observer(ptr, byref(self._c_own), None)
        if err:
            raise JzxError(err, "jzx_loop_add_observer")
        rt.loops[ptr] = self
        if rt.alloc_ptr is None:
            rt.alloc_ptr = ptr
        self._ptr = ptr

    # ---- lifetime ---------------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_ptr", None) and self._group is None and not self._running:
            warnings.warn("jzx.Loop was not closed", ResourceWarning, source=self)
            self.close()

    @property
    def closed(self):
        return self._ptr is None

    @property
    def group(self):
        """The Group this loop belongs to, None for a lone Loop."""
        return self._group

    @property
    def index(self):
        """This loop's index in its Group (0 for a lone Loop): the loop
        jzx.actor_loop_index() gives for its actors."""
        return self._index

    def _stop_run(self):
        if self._ptr:  # None inside close(), which raises the exit afterwards
            lib.jzx_loop_request_stop(self._ptr)

    def _busy(self):
        """Whether jzx_loop_run would refuse: running, or inside a hook."""
        if self._group is not None:
            return self._group._busy()
        return self._running or self._in_hooks or self._rt.hooks

    def _not_a_member(self, what):
        if self._group is not None:
            raise RuntimeError(
                f"Loop.{what}: this is loop {self._index} of a Group; "
                f"use Group.{what}() for the whole group"
            )

    def _loop(self, call):
        if self._ptr is None:
            raise JzxError(Err.LOOP_CLOSED, call)
        return self._ptr

    def close(self):
        """jzx_loop_destroy. Pending payloads go to on_drop; later calls raise
        JzxError(LOOP_CLOSED). Not from inside run(), init, terminate, a hook,
        on_drop or foreach_actor (JzxError LOOP_CLOSED: libjzx would not
        destroy the loop then). A loop of a Group closes with it
        (RuntimeError here)."""
        self._not_a_member("close")
        if self._ptr is None:
            return
        if self._busy():
            raise JzxError(Err.LOOP_CLOSED, "jzx_loop_destroy (from inside run or a hook)")
        self._stop_nodes()
        with self._ptr_lock:
            ptr, self._ptr = self._ptr, None
        try:
            lib.jzx_loop_destroy(ptr)  # every incarnation's terminate runs in here
        finally:
            self._forget()
            self._rt.specs.clear()
            self._rt.runs.clear()
            self._rt.loops.clear()
        self._rt.take_pending_exit()

    def _stop_nodes(self):
        """jzx_node_stop for every Node still attached (before the loop goes)."""
        for node in list(self._nodes):
            node.stop()

    def _forget(self):
        """Drop this loop's bookkeeping, once libjzx destroyed it."""
        self._python_actors.clear()
        self._c_track = None
        self._children.clear()
        self._spawn_notes.clear()
        self._observers.clear()
        self._added.clear()
        self._first = None

    def run(self):
        """jzx_loop_run: run until no actor, timer, watch or async message is
        left, or until request_stop(). May be called again afterwards. A loop
        of a Group runs with the others, with Group.run() (RuntimeError
        here)."""
        self._not_a_member("run")
        ptr = self._loop("jzx_loop_run")
        if self._running:
            raise JzxError(Err.LOOP_CLOSED, "jzx_loop_run")
        self._running = True
        try:
            err = lib.jzx_loop_run(ptr)
        finally:
            self._running = False
        self._rt.take_pending_exit()
        check(err, "jzx_loop_run")

    def request_stop(self):
        """jzx_loop_request_stop. Any thread. On a loop of a Group, it stops
        the whole group's run (as Group.request_stop())."""
        with self._ptr_lock:
            lib.jzx_loop_request_stop(self._loop("jzx_loop_request_stop"))

    def stats(self):
        """jzx_loop_stats, as a Stats."""
        out = _ffi.jzx_stats()
        check(lib.jzx_loop_stats(self._loop("jzx_loop_stats"), byref(out)), "jzx_loop_stats")
        return Stats(*(getattr(out, name) for name, _ in out._fields_))

    def set_observer(self, observer):
        """jzx_loop_set_observer: hooks called on the loop thread, any of
        on_actor_start(id, name), on_actor_stop(id, reason),
        on_actor_restart(supervisor, child, attempt),
        on_supervisor_escalate(supervisor), on_mailbox_full(target) that
        `observer` has, in the loop's first observer slot (ahead of the added
        ones). None empties the slot. The bindings use no slot themselves."""
        ptr = self._loop("jzx_loop_set_observer")
        if observer is None:
            lib.jzx_loop_set_observer(ptr, None, None)
            key = None
        else:
            key = next(self._rt.keys)
            self._observers[key] = observer
            lib.jzx_loop_set_observer(ptr, byref(_ffi.jzx_observer(*self._c_hooks)), key)
        self._observers.pop(self._first, None)
        self._first = key

    def add_observer(self, observer):
        """jzx_loop_add_observer (0.2): one more observer (hooks as in
        set_observer). Every event goes to the set_observer one, then to the
        added ones in the order added; one added from inside a hook sees the
        events after the current one. The same object may be added twice."""
        ptr = self._loop("jzx_loop_add_observer")
        if observer is None:
            raise TypeError("add_observer needs an observer object, not None")
        key = next(self._rt.keys)
        c = _ffi.jzx_observer(*self._c_hooks)
        check(lib.jzx_loop_add_observer(ptr, byref(c), key), "jzx_loop_add_observer")
        self._observers[key] = observer
        self._added.append((key, observer, c))

    def remove_observer(self, observer):
        """jzx_loop_remove_observer (0.2): remove `observer`, added with
        add_observer (the first time it was added, if more than once). From
        inside a hook, it takes effect from the next event. JzxError
        INVALID_ARG if it is not an added observer."""
        ptr = self._loop("jzx_loop_remove_observer")
        for i, (key, added, c) in enumerate(self._added):
            if added is observer:
                check(lib.jzx_loop_remove_observer(ptr, byref(c), key), "jzx_loop_remove_observer")
                del self._added[i]
                del self._observers[key]
                return
        raise JzxError(Err.INVALID_ARG, "jzx_loop_remove_observer")

    @property
    def pending_payloads(self):
        """How many payloads the runtime holds (sent, not yet delivered,
        dropped or cancelled)."""
        with self._rt.lock:
            return len(self._rt.payloads)

    @property
    def live_behaviours(self):
        """How many actor specs and incarnations the runtime may still call
        back into (each holds a behaviour and its hooks)."""
        return len(self._rt.specs) + len(self._rt.runs)

    # ---- actors -----------------------------------------------------------

    def spawn(
        self,
        behavior,
        *,
        name=None,
        mailbox_cap=0,
        supervisor=0,
        state=None,
        init=None,
        init_arg=None,
        terminate=None,
        shutdown_ms=0,
    ):
        """jzx_spawn: start an actor running `behavior(ctx, msg)`, which
        returns None / Result.OK to go on, Result.STOP or Result.FAIL.
        `init(ctx, init_arg)`, if given, runs before this returns and its
        result is the actor's state (ctx.state), else `state` is; if init
        raises, nothing is left of the actor and JzxError is raised with the
        exception as its __cause__ (its code: UNKNOWN, or the code of a
        JzxError init raised). `terminate(ctx, reason, state)` runs exactly
        once when the actor ends, with its last state. shutdown_ms matters
        only to supervisors (see ChildSpec). The callables are kept alive
        while the actor lives. Returns the actor id."""
        ptr = self._loop("jzx_spawn")
        supervisor = _id(supervisor)
        mailbox_cap = _u32(mailbox_cap, "mailbox_cap")
        shutdown_ms = _u32(shutdown_ms, "shutdown_ms")
        encoded = name.encode() if name is not None else None
        key = self._add_spec(behavior, state, init, init_arg, terminate)
        opts = _ffi.jzx_spawn_opts(
            self._c_behaviour,
            key,
            supervisor,
            mailbox_cap,
            encoded,
            self._c_init,
            key,
            self._c_terminate,
            shutdown_ms,
        )
        out = c_uint64()
        try:
            self._start("jzx_spawn", lib.jzx_spawn, ptr, byref(opts), byref(out))
        finally:
            del self._rt.specs[key]  # one start: its _Run holds what the actor needs
        return out.value

    def spawn_on(
        self,
        index,
        behavior,
        *,
        notify=0,
        name=None,
        mailbox_cap=0,
        supervisor=0,
        state=None,
        init=None,
        init_arg=None,
        terminate=None,
        shutdown_ms=0,
    ):
        """jzx_spawn_on (0.2): start an actor on loop `index` of this loop's
        Group (this loop included; a lone Loop takes only 0), from a
        behaviour or, before Group.run(), from the creator's thread. The
        arguments are spawn()'s; init runs on that loop, later. Returns the
        spawn's ticket (never 0). The outcome comes to `notify` (an actor of
        this loop; 0: nobody) as a message with tag TAG_SYS_SPAWNED and a
        Spawned(ticket, id, err) payload: id is the new actor, or 0 and err
        says why it could not start. An exception init raises goes to
        on_error (and err is UNKNOWN, or the code of a JzxError it raised).
        `supervisor` may name a plain actor of this loop: it gets the new
        actor's ChildExit. JzxError INVALID_ARG for an index outside the
        group, NoSuchActor if notify or supervisor is not a live actor of
        this loop.

        The callables are held until the start: without `notify`, a start
        that fails before init runs (MAX_ACTORS, NO_MEMORY on that loop)
        keeps them until the group closes."""
        ptr = self._loop("jzx_spawn_on")
        index, notify, supervisor = _u32(index, "index"), _id(notify), _id(supervisor)
        mailbox_cap = _u32(mailbox_cap, "mailbox_cap")
        shutdown_ms = _u32(shutdown_ms, "shutdown_ms")
        encoded = name.encode() if name is not None else None  # copied by libjzx
        key = self._add_spec(behavior, state, init, init_arg, terminate, once=True)
        opts = _ffi.jzx_spawn_opts(
            self._c_behaviour,
            key,
            supervisor,
            mailbox_cap,
            encoded,
            self._c_init,
            key,
            self._c_terminate,
            shutdown_ms,
        )
        out = c_uint64()
        # On this loop, init runs inside the call (its failure comes as the
        # Spawned too); on another, later, on that loop's thread.
        outer, self._start_failures = self._start_failures, None  # init's error: the Spawned's
        try:
            err = lib.jzx_spawn_on(ptr, index, byref(opts), notify, byref(out))
        finally:
            self._start_failures = outer
        if err:
            del self._rt.specs[key]
            raise JzxError(err, "jzx_spawn_on")
        if notify and key in self._rt.specs:
            self._spawn_notes.setdefault(notify, {})[out.value] = key
        return out.value

    def stop(self, actor):
        """jzx_actor_stop: end an actor normally."""
        check(lib.jzx_actor_stop(self._loop("jzx_actor_stop"), actor), "jzx_actor_stop")

    def fail(self, actor):
        """jzx_actor_fail: end an actor as failed."""
        check(lib.jzx_actor_fail(self._loop("jzx_actor_fail"), actor), "jzx_actor_fail")

    def exit(self, actor, reason):
        """jzx_actor_exit (0.3): end an actor with an ExitReason that its
        monitors (Down), links (ExitSignal) and terminate hook see: NORMAL,
        SHUTDOWN or NOPROC end it as stopped, FAIL or NOCONNECTION as failed
        (a linked actor that does not trap exits fails on any reason but
        NORMAL). A supervisor shuts down gracefully, as with stop(). An
        actor of another loop of the group ends when the request gets there.
        JzxError INVALID_ARG for a value that is no ExitReason."""
        err = lib.jzx_actor_exit(self._loop("jzx_actor_exit"), _id(actor), int(reason))
        check(err, "jzx_actor_exit")

    # ---- messages ---------------------------------------------------------

    def _park_for(self, ptr, target, payload, tag, call):
        """(data, len) for a payload sent to `target`: a parked key at len 0,
        or, for an actor of C code on a loop with a Node (a proxy) and a tag
        without a codec, C memory holding the payload's bytes at their len,
        as libjzx-nats reads them (TypeError for what has no bytes)."""
        if target in self._rt.foreign and tag not in self._rt.codec_tags:
            return self._rt.park_bytes(ptr, payload, target, tag, call)
        return self._rt.park(payload), 0

    def send(self, target, payload=None, tag=0):
        """jzx_send: queue `payload` (any object, handed over) for `target`.
        On error the payload stays with the caller and JzxError is raised.
        To a proxy for an actor of another node (see Node), the payload
        crosses as bytes: bytes, bytearray, memoryview or str (UTF-8), else
        TypeError, unless its tag has a codec (Node.set_codec)."""
        ptr = self._loop("jzx_send")
        target, tag = _id(target), _u32(tag, "tag")
        data, size = self._park_for(ptr, target, payload, tag, "jzx_send")
        err = lib.jzx_send(ptr, target, data, size, tag)
        if err:
            self._rt.unpark(data)
            raise JzxError(err, "jzx_send")

    def send_async(self, target, payload=None, tag=0):
        """jzx_send_async: jzx_send from any thread. If the target is gone or
        full when the message arrives, the payload goes to on_drop."""
        target, tag = _id(target), _u32(tag, "tag")
        with self._ptr_lock:
            ptr = self._ptr
            if not ptr:
                raise JzxError(Err.LOOP_CLOSED, "jzx_send_async")
            data, size = self._park_for(ptr, target, payload, tag, "jzx_send_async")
            err = lib.jzx_send_async(ptr, target, data, size, tag)
        if err:
            self._rt.unpark(data)
            raise JzxError(err, "jzx_send_async")

    def send_as(self, from_, to, payload=None, tag=0):
        """jzx_send_as (0.3): send() as actor `from_`, a live actor of this
        loop (0: no sender): `to` gets the message with `sender` == from_.
        What a proxy for actors elsewhere uses; errors as send(), plus
        NoSuchActor (from_ is not 0 and not a live actor of this loop)."""
        ptr = self._loop("jzx_send_as")
        from_, to, tag = _id(from_), _id(to), _u32(tag, "tag")
        data, size = self._park_for(ptr, to, payload, tag, "jzx_send_as")
        err = lib.jzx_send_as(ptr, from_, to, data, size, tag)
        if err:
            self._rt.unpark(data)
            raise JzxError(err, "jzx_send_as")

    # ---- names (0.2) -------------------------------------------------------

    def register(self, name, actor):
        """jzx_register: make `actor` reachable as `name` (a str, or bytes;
        1..255 bytes) until it ends or unregister(name). An actor has at most
        one name. JzxError NAME_TAKEN if the name is held, or the actor has
        a name already; NoSuchActor if the actor is not live."""
        err = lib.jzx_register(self._loop("jzx_register"), _name(name), _id(actor))
        check(err, "jzx_register")

    def unregister(self, name):
        """jzx_unregister: remove a name (NoSuchActor if nobody holds it)."""
        check(lib.jzx_unregister(self._loop("jzx_unregister"), _name(name)), "jzx_unregister")

    def whereis(self, name):
        """jzx_whereis: the id of the actor registered as `name`, or None if
        no live actor is (a name goes when its actor ends, before anyone
        learns of that end)."""
        out = c_uint64()
        err = lib.jzx_whereis(self._loop("jzx_whereis"), _name(name), byref(out))
        if err == Err.NO_SUCH_ACTOR:
            return None
        check(err, "jzx_whereis")
        return out.value

    def send_named(self, name, payload=None, tag=0):
        """jzx_send_named: send() to the actor registered as `name`;
        NoSuchActor if nobody holds it (the payload stays with the caller)."""
        ptr = self._loop("jzx_send_named")
        name, tag = _name(name), _u32(tag, "tag")
        holder = c_uint64()
        if self._rt.foreign and lib.jzx_whereis(ptr, name, byref(holder)) == Err.OK:
            data, size = self._park_for(ptr, holder.value, payload, tag, "jzx_send_named")
        else:
            data, size = self._rt.park(payload), 0
        err = lib.jzx_send_named(ptr, name, data, size, tag)
        if err:
            self._rt.unpark(data)
            raise JzxError(err, "jzx_send_named")

    # ---- requests (0.2) ----------------------------------------------------

    def request(self, from_, to, payload=None, tag=0, timeout_ms=0):
        """jzx_request: send `payload` to `to` as a request on behalf of
        actor `from_` (usually ctx.self) and return the request's id. `to`
        gets a Message whose `request` is that id (answer with reply()).
        `from_` then gets exactly one outcome: the reply, a Message whose
        `in_reply_to` is the id, or a TAG_SYS_NO_REPLY message whose NoReply
        payload says TIMEOUT (nothing within timeout_ms; 0: no deadline) or
        NO_SUCH_ACTOR (`to` ended first). If `from_` ends first, the request
        is cancelled. On error the payload stays with the caller."""
        ptr = self._loop("jzx_request")
        from_, to = _id(from_), _id(to)
        tag, timeout_ms = _u32(tag, "tag"), _u32(timeout_ms, "timeout_ms")
        data, size = self._park_for(ptr, to, payload, tag, "jzx_request")
        out = c_uint64()
        err = lib.jzx_request(ptr, from_, to, data, size, tag, timeout_ms, byref(out))
        if err:
            self._rt.unpark(data)
            raise JzxError(err, "jzx_request")
        return out.value

    def reply(self, request, payload=None, tag=0):
        """jzx_reply: answer `request`, a Message whose `request` is
        non-zero; it may have been kept from an earlier call. The reply's
        sender is the actor whose behaviour replies (0 outside one).
        JzxError NO_REQUEST if it is no request, or the request already had
        its outcome (replied, timed out, target or requester ended); the
        payload then stays with the caller."""
        ptr = self._loop("jzx_reply")
        tag = _u32(tag, "tag")
        # jzx_reply reads only these two fields.
        c = _ffi.jzx_message(request=_id(request.request), sender=_id(request.sender))
        data, size = self._park_for(ptr, c.sender, payload, tag, "jzx_reply")
        err = lib.jzx_reply(ptr, byref(c), data, size, tag)
        if err:
            self._rt.unpark(data)
            raise JzxError(err, "jzx_reply")

    def reply_as(self, from_, request, payload=None, tag=0):
        """jzx_reply_as (0.3): reply() with `from_`, a live actor of this
        loop (0: no sender), as the reply's sender. Errors as reply(), plus
        NoSuchActor (from_ is not 0 and not a live actor of this loop)."""
        ptr = self._loop("jzx_reply_as")
        from_, tag = _id(from_), _u32(tag, "tag")
        c = _ffi.jzx_message(request=_id(request.request), sender=_id(request.sender))
        data, size = self._park_for(ptr, c.sender, payload, tag, "jzx_reply_as")
        err = lib.jzx_reply_as(ptr, from_, byref(c), data, size, tag)
        if err:
            self._rt.unpark(data)
            raise JzxError(err, "jzx_reply_as")

    def refuse(self, request, reason):
        """jzx_refuse (0.3): answer a request with no reply; its requester
        gets a NoReply whose reason is `reason` (a negative Err). JzxError
        INVALID_ARG for a reason >= 0, NO_REQUEST when it is not a pending
        request of this loop."""
        ptr = self._loop("jzx_refuse")
        c = _ffi.jzx_message(request=_id(request.request), sender=_id(request.sender))
        check(lib.jzx_refuse(ptr, byref(c), int(reason)), "jzx_refuse")

    # ---- bridges (0.3): payloads for C code ----------------------------------

    def drop(self, target, payload=None, tag=0, *, reason):
        """jzx_loop_drop (0.3): hand `payload` to on_drop as libjzx does with
        what it cannot deliver: on_drop(target, payload, tag, reason) runs
        now, and the loop's stats count it in messages_dropped. `target` is
        whom it was for, `reason` a DropReason (a bridge that could not pass
        a message on says UNREACHABLE, for instance). JzxError INVALID_ARG for
        a reserved tag (libjzx would ignore the call)."""
        ptr = self._loop("jzx_loop_drop")
        target, tag, reason = _id(target), _u32(tag, "tag"), int(reason)
        if not 0 <= reason < 2**31:
            raise ValueError(f"a drop reason is a DropReason, got {reason}")
        if tag >= _ffi.TAG_SYS_MIN:
            raise JzxError(Err.INVALID_ARG, "jzx_loop_drop (a reserved tag)")
        c = _ffi.jzx_message(data=self._rt.park(payload), tag=tag)
        lib.jzx_loop_drop(ptr, target, byref(c), reason)  # on_drop takes the payload out

    def alloc(self, size):
        """jzx_loop_alloc (0.3): `size` bytes from the loop's allocator, as
        an address (an int, for ctypes), for C code that takes payloads
        allocated that way. Release them with free(). This binding's own
        payloads are Python objects and need none of it. Any thread.
        MemoryError if the allocator has none, ValueError for 0."""
        size = int(size)
        if size <= 0:
            raise ValueError("Loop.alloc needs a size of at least 1 byte")
        with self._ptr_lock:
            address = lib.jzx_loop_alloc(self._loop("jzx_loop_alloc"), size)
        if not address:
            raise MemoryError(f"jzx_loop_alloc: no memory for {size} bytes")
        return address

    def free(self, address):
        """jzx_loop_free: release what alloc() returned (or a payload libjzx
        handed over and the binding did not free itself). 0 and None are
        ignored."""
        if address:
            lib.jzx_loop_free(self._loop("jzx_loop_free"), address)

    def call(self, target, payload=None, tag=0, *, timeout_ms=5000):
        """Send a request to `target` (an actor id, or a registered name)
        and wait for its outcome, from outside the loop: returns the reply's
        payload, or raises Timeout (no reply within timeout_ms; 0 waits
        without a deadline) or NoSuchActor (no such target, or it ended
        before replying).

        What it does with the loop: it spawns a temporary requester actor
        (named "jzx.call"; observers and foreach_actor see it), makes the
        request from it, and run()s the loop until the outcome reaches it;
        every other actor, timer and watch runs meanwhile as in run(). The
        requester then stops itself and asks run() to return, so work may be
        left: run() again to carry on. If run() returns before the outcome
        (request_stop() from a behaviour or another thread, or one pending
        from before), the requester is stopped, which cancels the request
        (a reply already queued for it goes to on_drop), and RuntimeError is
        raised, as asyncio's run_until_complete does. An exception that ends
        run() (KeyboardInterrupt) propagates the same way.

        Not while the loop runs (from a behaviour or another thread), nor
        from init, terminate, a hook or on_drop: JzxError LOOP_CLOSED. A
        behaviour uses request() and takes the reply as a message.

        On a loop of a Group, the requester lives on this loop, `target` may
        be on any loop of the group, and the whole group runs (Group.run())
        until the outcome."""
        self._loop("Loop.call")
        if self._busy():  # refused before anything is started
            raise JzxError(Err.LOOP_CLOSED, _CALL_INSIDE)
        if isinstance(target, (str, bytes)):
            found = self.whereis(target)
            if found is None:
                raise JzxError(Err.NO_SUCH_ACTOR, f"Loop.call: nobody is registered as {target!r}")
            target = found
        request = 0
        outcome = []

        def requester(ctx, msg):
            if not request:
                return None
            if msg.in_reply_to == request or (
                msg.tag == _ffi.TAG_SYS_NO_REPLY and msg.payload.request == request
            ):
                outcome.append(msg)
                ctx.loop.request_stop()
                return Result.STOP
            return None  # anything else sent to it is not the outcome

        me = self.spawn(requester, name="jzx.call")
        try:
            request = self.request(me, target, payload, tag, timeout_ms)
            try:
                (self._group or self).run()
            except JzxError as exc:
                if exc.code == Err.LOOP_CLOSED:  # refused: from a hook, init, ...
                    raise JzxError(Err.LOOP_CLOSED, _CALL_INSIDE) from exc
                raise
        finally:
            if not outcome:
                try:
                    self.stop(me)  # its request dies with it
                except JzxError:
                    pass  # it could not be, or is, gone: nothing is left to undo
        if not outcome:
            raise RuntimeError(
                "Loop.call: the loop was stopped (request_stop) before the outcome "
                "arrived; the request is cancelled"
            )
        msg = outcome[0]
        if msg.tag == _ffi.TAG_SYS_NO_REPLY:
            raise JzxError(msg.payload.reason, "Loop.call")
        return msg.payload

    # ---- nodes (libjzx-nats) ---------------------------------------------------

    def start_node(self, *, url, cluster, name, heartbeat_ms=0, down_after_ms=0):
        """jzx.Node(self, ...): connect this loop to a cluster on NATS (see
        Node). ImportError if libjzx-nats cannot be loaded."""
        from ._nats import Node

        return Node(
            self,
            url=url,
            cluster=cluster,
            name=name,
            heartbeat_ms=heartbeat_ms,
            down_after_ms=down_after_ms,
        )

    @property
    def nodes(self):
        """The Nodes attached to this loop and not stopped, oldest first."""
        return tuple(self._nodes)

    def _track_c_actors(self):
        """From the first Node on: tell the actors C code starts here (its
        proxies, its gateway) from the Python ones, with an observer."""
        if self._c_track is not None:
            return
        hook = dict(_ffi.jzx_observer._fields_)["on_actor_start"]
        c = _ffi.jzx_observer(on_actor_start=hook(self._c_actor_start))
        ptr = self._loop("jzx_loop_add_observer")
        check(lib.jzx_loop_add_observer(ptr, byref(c), None), "jzx_loop_add_observer")
        self._c_track = c  # keeps the trampoline alive: libjzx copied the struct only

    def _c_actor_start(self, ctx, actor, name):
        if actor in self._python_actors:
            return
        info = _ffi.jzx_actor_info()
        ptr = self._ptr
        if ptr and lib.jzx_actor_info_get(ptr, actor, byref(info)) == Err.OK:
            if info.is_supervisor:
                return  # libjzx's own: it takes Python payloads (to drop them)
        self._rt.foreign.add(actor)

    # ---- introspection (0.2) ---------------------------------------------

    def actor_info(self, actor):
        """jzx_actor_info_get: a live actor's details, as an ActorInfo
        (NoSuchActor if it is not live)."""
        out = _ffi.jzx_actor_info()
        err = lib.jzx_actor_info_get(self._loop("jzx_actor_info_get"), _id(actor), byref(out))
        check(err, "jzx_actor_info_get")
        return _actor_info(out)

    def foreach_actor(self, fn):
        """jzx_loop_foreach_actor: call fn(ActorInfo) once for every live
        actor, in slot order. fn may call actor_info and most other methods
        (an actor it starts or ends may or may not be visited), but not
        run(), call() or close() (it runs like an observer hook). If fn
        raises, the remaining actors are skipped and the exception is raised
        here once the walk is over."""
        ptr = self._loop("jzx_loop_foreach_actor")
        failure = []

        def visit(ctx, info_p):
            if failure:
                return
            self._in_hooks += 1
            try:
                fn(_actor_info(info_p.contents))
            except BaseException as exc:  # raised below, outside the C walk
                failure.append(exc)
            finally:
                self._in_hooks -= 1

        c_visit = _ffi.foreach_fn(visit)  # alive for the call: nothing keeps it after
        check(lib.jzx_loop_foreach_actor(ptr, c_visit, None), "jzx_loop_foreach_actor")
        if failure:
            raise failure[0]

    def actors(self):
        """Every live actor's ActorInfo, in slot order (foreach_actor)."""
        infos = []
        self.foreach_actor(infos.append)
        return infos

    # ---- timers -----------------------------------------------------------

    def send_after(self, target, ms, payload=None, tag=0):
        """jzx_send_after: send `payload` to `target` after `ms` milliseconds.
        Returns the timer id for cancel_timer."""
        ptr = self._loop("jzx_send_after")
        target, ms, tag = _id(target), _u32(ms, "ms"), _u32(tag, "tag")
        key, size = self._park_for(ptr, target, payload, tag, "jzx_send_after")
        out = c_uint64()
        err = lib.jzx_send_after(ptr, target, ms, key, size, tag, byref(out))
        if err:
            self._rt.unpark(key)
            raise JzxError(err, "jzx_send_after")
        # Safe after the call: a timer fires only inside run(), on this thread.
        # Timer ids are a loop's own: the loop's pointer tells them apart.
        timer = (ptr, out.value)
        with self._rt.lock:
            self._rt.payloads[key] = (payload, timer)
            self._rt.timers[timer] = key
        return out.value

    def cancel_timer(self, timer):
        """jzx_cancel_timer: disarm a timer and return its payload."""
        ptr = self._loop("jzx_cancel_timer")
        check(lib.jzx_cancel_timer(ptr, timer), "jzx_cancel_timer")
        with self._rt.lock:
            key = self._rt.timers[(ptr, timer)]
        return self._rt.unpark(key)

    # ---- supervisors ------------------------------------------------------

    def spawn_supervisor(self, spec, *, parent=0):
        """jzx_spawn_supervisor: start a supervisor from a Supervisor spec
        (children may nest Supervisors). `parent` (0 for none) gets a
        ChildExit when it ends. A child whose init raises makes the whole
        spawn fail, as in spawn(). Returns the supervisor's id."""
        ptr = self._loop("jzx_spawn_supervisor")
        parent = _id(parent)
        bundles = [([], []) for _ in spec.children]
        try:
            init, _children = self._build_init(spec, bundles)
            out = c_uint64()
            call = "jzx_spawn_supervisor"
            self._start(call, lib.jzx_spawn_supervisor, ptr, byref(init), parent, byref(out))
        except BaseException:
            for keys, _ in bundles:
                self._drop_specs(keys)
            raise
        if self._is_live(out.value):
            self._children[out.value] = dict(enumerate(bundles))
        else:  # an observer hook ended it during the call
            for keys, _ in bundles:
                self._drop_specs(keys)
        return out.value

    def child_id(self, supervisor, index):
        """jzx_supervisor_child_id: the current id of child `index` (0 while
        it is down awaiting a restart, or terminated)."""
        out = c_uint64()
        err = lib.jzx_supervisor_child_id(
            self._loop("jzx_supervisor_child_id"), supervisor, index, byref(out)
        )
        check(err, "jzx_supervisor_child_id")
        return out.value

    def start_child(self, supervisor, spec):
        """jzx_supervisor_start_child: add a child (a ChildSpec) to a running
        supervisor and start it now, last in start order. Returns (index,
        id); the index names it for child_id, terminate_child and
        delete_child, and is reused once the child is deleted (a temporary
        child is deleted when it ends). If the child cannot start, nothing
        is added and JzxError is raised, as for spawn()."""
        ptr = self._loop("jzx_supervisor_start_child")
        supervisor = _id(supervisor)
        keys, buffers = [], []
        try:
            c = _ffi.jzx_child_spec()
            self._build_child(c, spec, keys, buffers)
            index, out = c_uint32(), c_uint64()
            self._start(
                "jzx_supervisor_start_child",
                lib.jzx_supervisor_start_child,
                ptr,
                supervisor,
                byref(c),
                byref(index),
                byref(out),
            )
        except BaseException:
            self._drop_specs(keys)
            raise
        children = self._children.setdefault(supervisor, {})
        # The supervisor hands out only free indices: a spec we still hold
        # for this one was deleted on the C side (a temporary child's).
        stale = children.pop(index.value, None)
        if stale is not None:
            self._drop_specs(stale[0])
        # Its copy of the spec points at our keys and name: they live with it.
        children[index.value] = (keys, buffers)
        return index.value, out.value

    def terminate_child(self, supervisor, index):
        """jzx_supervisor_terminate_child: stop child `index` and keep it
        down (its spec stays, for delete_child). A child with shutdown_ms
        gets TAG_SYS_SHUTDOWN first and is stopped shutdown_ms later."""
        err = lib.jzx_supervisor_terminate_child(
            self._loop("jzx_supervisor_terminate_child"), _id(supervisor), _u32(index, "index")
        )
        check(err, "jzx_supervisor_terminate_child")

    def delete_child(self, supervisor, index):
        """jzx_supervisor_delete_child: forget the spec of child `index`,
        which must be down and awaiting no restart; the index may then be
        reused."""
        supervisor = _id(supervisor)
        err = lib.jzx_supervisor_delete_child(
            self._loop("jzx_supervisor_delete_child"), supervisor, _u32(index, "index")
        )
        check(err, "jzx_supervisor_delete_child")
        bundle = self._children.get(supervisor, {}).pop(index, None)
        if bundle is not None:
            self._drop_specs(bundle[0])

    def _build_init(self, spec, bundles):
        """A jzx_supervisor_init for `spec` and its children array (which
        must outlive the call). What the supervisor's copy of child i keeps
        pointing to (spec keys, names, nested inits) goes to bundles[i]."""
        children = (_ffi.jzx_child_spec * len(spec.children))()
        for c, child, (keys, buffers) in zip(children, spec.children, bundles):
            self._build_child(c, child, keys, buffers)
        policy = _ffi.jzx_supervisor_spec(
            int(spec.strategy),
            _u32(spec.intensity, "intensity"),
            _u32(spec.period_ms, "period_ms"),
            int(spec.backoff),
            _u32(spec.backoff_delay_ms, "backoff_delay_ms"),
            _u32(spec.backoff_reset_ms, "backoff_reset_ms"),
        )
        init = _ffi.jzx_supervisor_init(
            cast(children, POINTER(_ffi.jzx_child_spec)), len(spec.children), policy
        )
        return init, children

    def _build_child(self, c, child, keys, buffers):
        """Fill the jzx_child_spec `c` from a ChildSpec."""
        if child.supervisor is not None:
            # A nested init belongs to this child: all of it in its bundle.
            nested = [(keys, buffers)] * len(child.supervisor.children)
            init, children = self._build_init(child.supervisor, nested)
            buffers += (init, children)
            c.supervisor = pointer(init)
        elif child.behavior is not None:
            hooks = (child.init, child.init_arg, child.terminate)
            key = self._add_spec(child.behavior, child.state, *hooks, "ChildSpec.")
            keys.append(key)
            c.behavior = self._c_behaviour
            c.state = key
            c.init = self._c_init
            c.init_arg = key
            c.terminate = self._c_terminate
        c.mode = int(child.mode)
        c.mailbox_cap = _u32(child.mailbox_cap, "mailbox_cap")
        c.restart_delay_ms = _u32(child.restart_delay_ms, "restart_delay_ms")
        c.backoff = int(child.backoff)
        c.shutdown_ms = _u32(child.shutdown_ms, "shutdown_ms")
        c.loop = _u32(child.loop, "loop")
        if child.name is not None:
            name = child.name.encode()
            buffers.append(name)
            c.name = name
        if child.register_as is not None:
            register_as = _name(child.register_as)
            buffers.append(register_as)  # copied by libjzx; kept like the others
            c.register_as = register_as

    def _is_live(self, supervisor):
        out = c_uint64()
        err = lib.jzx_supervisor_child_id(self._ptr, supervisor, 0, byref(out))
        return err != Err.NO_SUCH_ACTOR

    # ---- monitors and links -------------------------------------------------

    def monitor(self, watcher, target):
        """jzx_monitor: `watcher` gets exactly one message with tag
        TAG_SYS_DOWN and a Down payload when `target` ends; if `target` is
        already gone, the Down says ExitReason.NOPROC (delivered later, like
        any message). Returns the monitor's reference, for demonitor."""
        out = c_uint64()
        err = lib.jzx_monitor(self._loop("jzx_monitor"), _id(watcher), _id(target), byref(out))
        check(err, "jzx_monitor")
        return out.value

    def demonitor(self, ref):
        """jzx_demonitor: remove a monitor, and its Down if one is queued.
        INVALID_ARG if `ref` is unknown, removed, or its Down delivered."""
        check(lib.jzx_demonitor(self._loop("jzx_demonitor"), _id(ref)), "jzx_demonitor")

    def link(self, a, b):
        """jzx_link: link two live actors, both ways. When one fails (or is
        shut down), the other fails too, unless it traps exits: then it gets
        a message with tag TAG_SYS_EXIT and an ExitSignal payload, for a
        normal end too."""
        check(lib.jzx_link(self._loop("jzx_link"), _id(a), _id(b)), "jzx_link")

    def unlink(self, a, b):
        """jzx_unlink: remove the link between `a` and `b`, if any."""
        check(lib.jzx_unlink(self._loop("jzx_unlink"), _id(a), _id(b)), "jzx_unlink")

    def trap_exits(self, actor, on=True):
        """jzx_trap_exits: with `on`, linked actors' ends reach `actor` as
        ExitSignal messages instead of ending it."""
        err = lib.jzx_trap_exits(self._loop("jzx_trap_exits"), _id(actor), 1 if on else 0)
        check(err, "jzx_trap_exits")

    # ---- file descriptors -------------------------------------------------

    def watch_fd(self, fd, owner, interest=_ffi.IO_READ):
        """jzx_watch_fd: deliver readiness of `fd` (an int or an object with
        fileno()) to `owner` as IoEvent payloads with tag TAG_SYS_IO."""
        fd = fd if isinstance(fd, int) else fd.fileno()
        err = lib.jzx_watch_fd(self._loop("jzx_watch_fd"), fd, owner, _u32(interest, "interest"))
        check(err, "jzx_watch_fd")

    def unwatch_fd(self, fd):
        """jzx_unwatch_fd: remove a watch."""
        fd = fd if isinstance(fd, int) else fd.fileno()
        check(lib.jzx_unwatch_fd(self._loop("jzx_unwatch_fd"), fd), "jzx_unwatch_fd")

    # ---- registries -------------------------------------------------------

    def _add_spec(self, behavior, state, init, init_arg, terminate, what="", once=False):
        for name, fn in (("behavior", behavior), ("init", init), ("terminate", terminate)):
            if not callable(fn) and (fn is not None or name == "behavior"):
                raise TypeError(f"{what}{name} must be callable")
        key = next(self._rt.keys)
        self._rt.specs[key] = _Spec(behavior, state, init, init_arg, terminate, once)
        return key

    def _drop_specs(self, keys):
        for key in keys:
            del self._rt.specs[key]

    def _start(self, call, fn, *args):
        """Call `fn`, which may run init hooks, and raise its error. The
        exception an init raised is the JzxError's __cause__; one that is no
        Exception (KeyboardInterrupt) is raised itself."""
        outer, self._start_failures = self._start_failures, []
        try:
            err = fn(*args)
        finally:
            failures, self._start_failures = self._start_failures, outer
        if err == Err.OK:
            return
        cause = failures[-1] if failures else None
        if cause is None:
            raise JzxError(err, call)
        if not isinstance(cause, Exception):
            raise cause
        raise JzxError(err, call) from cause

    def _report(self, exc, where):
        self._rt.report(exc, where)

    # ---- called by libjzx (through the _Runtime), on the loop thread ---------

    def _behaviour_call(self, ctx_p, ctx, msg_p):
        msg = msg_p.contents
        actor = ctx.self
        context = None
        try:
            tag = msg.tag
            if tag == _ffi.TAG_SYS_CHILD_EXIT:  # 0.1: handed over, ours to free
                ev = _ffi.jzx_child_exit.from_address(msg.data)
                payload = ChildExit(ev.child, _enum(ActorStatus, ev.status))
                lib.jzx_loop_free(ctx.loop, msg.data)
            elif tag == _ffi.TAG_SYS_IO:
                io = _ffi.jzx_io_event.from_address(msg.data)
                payload = IoEvent(io.fd, io.readiness)
                lib.jzx_loop_free(ctx.loop, msg.data)
            elif tag == _ffi.TAG_SYS_DOWN:  # 0.2: lent for the call, so copied
                down = _ffi.jzx_down.from_address(msg.data)
                payload = Down(down.ref, down.actor, _enum(ExitReason, down.reason))
            elif tag == _ffi.TAG_SYS_EXIT:
                signal = _ffi.jzx_exit_signal.from_address(msg.data)
                payload = ExitSignal(getattr(signal, "from"), _enum(ExitReason, signal.reason))
            elif tag == _ffi.TAG_SYS_NO_REPLY:
                note = _ffi.jzx_no_reply.from_address(msg.data)
                payload = NoReply(note.request, _enum(Err, note.reason))
            elif tag == _ffi.TAG_SYS_SPAWNED:
                note = _ffi.jzx_spawned.from_address(msg.data)
                payload = Spawned(note.ticket, note.id, _enum(Err, note.err))
                self._spawned(actor, note.ticket)
            elif tag >= _ffi.TAG_SYS_MIN:
                payload = None  # SHUTDOWN, or a newer one: lent, and nothing we know how to read
            else:
                payload = self._rt.take(msg.data, msg.len, msg.sender, ctx.loop)
            run = self._rt.runs[ctx.state]
            context = Context(actor, self, ctx_p, run)
            message = Message(payload, tag, msg.sender, msg.request, msg.in_reply_to)
            result = run.behaviour(context, message)
            if result is None:
                return Result.OK
            if isinstance(result, bool) or result not in (Result.OK, Result.STOP, Result.FAIL):
                raise TypeError(f"behaviour returned {result!r}, not None or a jzx.Result")
            return int(result)
        except BaseException as exc:
            self._report(exc, f"the behaviour of actor {actor:#x}")
            return Result.FAIL if isinstance(exc, Exception) else Result.OK
        finally:
            if context is not None:
                context._c = None

    def _init_call(self, ctx_p, arg, state_p):
        actor = ctx_p.contents.self
        spec = self._rt.specs.get(arg)
        if spec is None:
            # A child spec whose supervisor ended (or deleted the child) while
            # this start came from its loop: the start fails, and nobody is
            # left to be told.
            return Err.NO_SUCH_ACTOR
        if spec.once:
            del self._rt.specs[arg]  # spawn_on's: this is its one start
        try:
            run = _Run(next(self._rt.keys), spec)
            if spec.init is not None:
                context = Context(actor, self, ctx_p, run)
                self._in_hooks += 1
                try:
                    run.state = spec.init(context, spec.init_arg)
                finally:
                    self._in_hooks -= 1
                    context._c = None
        except BaseException as exc:
            if self._start_failures is not None:
                self._start_failures.append(exc)  # the start call raises it
            else:
                self._report(exc, f"the init of actor {actor:#x}")  # a supervisor's restart
            code = int(exc.code) if isinstance(exc, JzxError) else 0
            return code if code < 0 else Err.UNKNOWN
        self._rt.runs[run.key] = run
        self._python_actors.add(actor)
        state_p[0] = run.key
        return Err.OK

    def _terminate_call(self, ctx_p, reason, key):
        run = self._rt.runs.pop(key, None)
        if run is None or run.terminate is None:
            return
        actor = ctx_p.contents.self
        context = Context(actor, self, ctx_p, run)
        self._in_hooks += 1
        try:
            run.terminate(context, _enum(ExitReason, reason), run.state)
        except BaseException as exc:
            self._report(exc, f"the terminate of actor {actor:#x}")
        finally:
            self._in_hooks -= 1
            context._c = None

    def _own_actor_stop(self, ctx, actor, reason):
        self._python_actors.discard(actor)
        self._rt.foreign.discard(actor)
        # A supervisor's copies of its child specs go with it.
        for keys, _ in self._children.pop(actor, {}).values():
            self._drop_specs(keys)
        # Spawn outcomes nobody will be told of now (their specs stay for
        # their inits: a start may still be on its way).
        self._spawn_notes.pop(actor, None)

    def _spawned(self, notify, ticket):
        # The outcome of spawn_on: the init consumed the spec, or the start
        # failed before it could run and the spec is of no more use.
        key = self._spawn_notes.get(notify, {}).pop(ticket, None)
        if key is not None:
            self._rt.specs.pop(key, None)

    def _notify(self, key, hook, *args):
        # None for an observer removed while libjzx was walking the slots.
        fn = getattr(self._observers.get(key), hook, None)
        if fn is None:
            return
        self._in_hooks += 1
        try:
            fn(*args)
        except BaseException as exc:
            self._report(exc, f"observer.{hook}")
        finally:
            self._in_hooks -= 1

    def _hook_on_actor_start(self, ctx, actor, name):
        self._notify(ctx, "on_actor_start", actor, name.decode() if name is not None else None)

    def _hook_on_actor_stop(self, ctx, actor, reason):
        self._notify(ctx, "on_actor_stop", actor, _enum(ExitReason, reason))

    def _hook_on_actor_restart(self, ctx, supervisor, child, attempt):
        self._notify(ctx, "on_actor_restart", supervisor, child, attempt)

    def _hook_on_supervisor_escalate(self, ctx, supervisor):
        self._notify(ctx, "on_supervisor_escalate", supervisor)

    def _hook_on_mailbox_full(self, ctx, target):
        self._notify(ctx, "on_mailbox_full", target)

