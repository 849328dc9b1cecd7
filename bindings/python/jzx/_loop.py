"""Loop: one jzx_loop, with Python callables as behaviours and Python objects
as payloads.

How Python objects cross the C boundary without the runtime ever touching
them: every payload is parked in a registry under an integer key, and the
key travels as the message's `data` pointer. The key is taken out again
exactly once: when the message reaches a behaviour, when on_drop hands it
back, or when a cancelled timer returns it, so the registry holds only the
payloads in flight. Behaviours work the same way: one C trampoline serves
every actor, and the actor's `state` pointer is the key of its Python
callable, released when the internal observer sees the actor end (for a
supervisor: when the supervisor itself ends, since it restarts children from
the same keys).
"""

import itertools
import sys
import threading
import traceback
import warnings
from ctypes import POINTER, byref, c_uint64, cast, pointer

from . import _ffi
from ._ffi import lib
from ._types import (
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
    Result,
    Stats,
    _enum,
    check,
)


class Context:
    """Handed to a behaviour on every call: `self` is the actor's own id and
    `loop` the Loop running it."""

    __slots__ = ("self", "loop")

    def __init__(self, actor, loop):
        self.self = actor
        self.loop = loop


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


def _print_error(exc, where):
    print(f"jzx: exception in {where}:", file=sys.stderr)
    traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)


class Loop:
    """A jzx_loop. The thread that calls run() owns it: behaviours, observer
    hooks, on_drop and the clock run there, and every method except
    send_async and request_stop must be called from it (docs/threading.md).

    Keyword arguments (0 = the default): max_actors, mailbox_cap (sets
    jzx_config.default_mailbox_cap), max_msgs_per_actor, max_actors_per_tick,
    max_io_watchers and io_poll_timeout_ms set those jzx_config fields; plus:
      on_drop(target, payload, tag, reason): gets every accepted payload that
          could not be delivered (reason is a DropReason);
      clock(): milliseconds, never going backwards (default: monotonic);
      on_error(exc, where): called with an exception a behaviour, hook or
          on_drop raised (default: print the traceback to stderr). A behaviour
          that raises fails its actor, as if it had returned Result.FAIL.

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
        self._on_drop = on_drop
        self._clock = clock
        self._clock_last = 0
        self._on_error = on_error or _print_error
        self._observer = None
        self._running = False
        self._pending_exit = None  # KeyboardInterrupt etc. raised in a callback

        # Payload and behaviour keys, never 0 (NULL); next() on a count is
        # atomic under the GIL, so any thread may draw one.
        self._keys = itertools.count(1)
        self._lock = threading.Lock()  # guards the two registries below
        self._payloads = {}  # key -> (object, timer id or 0)
        self._timers = {}  # timer id -> key
        self._behaviours = {}  # key -> callable (owner thread only)
        self._owned = {}  # actor id -> (keys, buffers) freed when that actor ends
        # Serialises send_async/request_stop (any thread) against close().
        self._ptr_lock = threading.RLock()

        # The C callables must outlive the loop: they are attributes of it.
        self._c_behaviour = _ffi.behavior_fn(self._behaviour_call)
        self._c_drop = _ffi.drop_fn(self._drop_call)
        self._c_clock = _ffi.clock_fn(self._clock_call)
        hooks = _ffi.jzx_observer._fields_
        self._c_observer = _ffi.jzx_observer(
            *(ftype(getattr(self, "_hook_" + fname)) for fname, ftype in hooks)
        )

        cfg = _ffi.jzx_config()
        lib.jzx_config_init(byref(cfg))
        for name, value in (
            ("max_actors", max_actors),
            ("default_mailbox_cap", mailbox_cap),
            ("max_msgs_per_actor", max_msgs_per_actor),
            ("max_actors_per_tick", max_actors_per_tick),
            ("max_io_watchers", max_io_watchers),
            ("io_poll_timeout_ms", io_poll_timeout_ms),
        ):
            if value:
                setattr(cfg, name, _u32(value, name))
        cfg.on_drop = self._c_drop
        if clock is not None:
            cfg.clock = self._c_clock
        self._ptr = lib.jzx_loop_create(byref(cfg))
        if not self._ptr:
            raise JzxError(Err.NO_MEMORY, "jzx_loop_create")
        lib.jzx_loop_set_observer(self._ptr, byref(self._c_observer), None)

    # ---- lifetime ---------------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_ptr", None) and not self._running:
            warnings.warn("jzx.Loop was not closed", ResourceWarning, source=self)
            self.close()

    @property
    def closed(self):
        return self._ptr is None

    def _loop(self, call):
        if self._ptr is None:
            raise JzxError(Err.LOOP_CLOSED, call)
        return self._ptr

    def close(self):
        """jzx_loop_destroy. Pending payloads go to on_drop; later calls raise
        JzxError(LOOP_CLOSED). Not from inside run()."""
        if self._running:
            raise JzxError(Err.LOOP_CLOSED, "jzx_loop_destroy (from inside run)")
        with self._ptr_lock:
            ptr, self._ptr = self._ptr, None
        if ptr is None:
            return
        try:
            lib.jzx_loop_destroy(ptr)
        finally:
            self._behaviours.clear()
            self._owned.clear()
        exc, self._pending_exit = self._pending_exit, None
        if exc is not None:
            raise exc

    def run(self):
        """jzx_loop_run: run until no actor, timer, watch or async message is
        left, or until request_stop(). May be called again afterwards."""
        ptr = self._loop("jzx_loop_run")
        if self._running:
            raise JzxError(Err.LOOP_CLOSED, "jzx_loop_run")
        self._running = True
        try:
            err = lib.jzx_loop_run(ptr)
        finally:
            self._running = False
        exc, self._pending_exit = self._pending_exit, None
        if exc is not None:
            raise exc
        check(err, "jzx_loop_run")

    def request_stop(self):
        """jzx_loop_request_stop. Any thread."""
        with self._ptr_lock:
            lib.jzx_loop_request_stop(self._loop("jzx_loop_request_stop"))

    def stats(self):
        """jzx_loop_stats, as a Stats."""
        out = _ffi.jzx_stats()
        check(lib.jzx_loop_stats(self._loop("jzx_loop_stats"), byref(out)), "jzx_loop_stats")
        return Stats(*(getattr(out, name) for name, _ in out._fields_))

    def set_observer(self, observer):
        """Hooks called on the loop thread: any of on_actor_start(id, name),
        on_actor_stop(id, reason), on_actor_restart(supervisor, child, attempt),
        on_supervisor_escalate(supervisor), on_mailbox_full(target) that
        `observer` has. None removes it."""
        self._loop("jzx_loop_set_observer")
        self._observer = observer

    @property
    def pending_payloads(self):
        """How many payloads the runtime holds (sent, not yet delivered,
        dropped or cancelled)."""
        with self._lock:
            return len(self._payloads)

    @property
    def live_behaviours(self):
        """How many Python behaviours the runtime may still call."""
        return len(self._behaviours)

    # ---- actors -----------------------------------------------------------

    def spawn(self, behavior, *, name=None, mailbox_cap=0, supervisor=0):
        """jzx_spawn: start an actor running `behavior(ctx, msg)`, which
        returns None / Result.OK to go on, Result.STOP or Result.FAIL. The
        callable is kept alive while the actor lives. Returns the actor id."""
        ptr = self._loop("jzx_spawn")
        if not callable(behavior):
            raise TypeError("behavior must be callable")
        key = self._add_behaviour(behavior)
        encoded = name.encode() if name is not None else None
        opts = _ffi.jzx_spawn_opts(
            self._c_behaviour, key, supervisor, _u32(mailbox_cap, "mailbox_cap"), encoded
        )
        out = c_uint64()
        err = lib.jzx_spawn(ptr, byref(opts), byref(out))
        if err:
            del self._behaviours[key]
            raise JzxError(err, "jzx_spawn")
        self._owned[out.value] = ([key], [])
        return out.value

    def stop(self, actor):
        """jzx_actor_stop: end an actor normally."""
        check(lib.jzx_actor_stop(self._loop("jzx_actor_stop"), actor), "jzx_actor_stop")

    def fail(self, actor):
        """jzx_actor_fail: end an actor as failed."""
        check(lib.jzx_actor_fail(self._loop("jzx_actor_fail"), actor), "jzx_actor_fail")

    # ---- messages ---------------------------------------------------------

    def send(self, target, payload=None, tag=0):
        """jzx_send: queue `payload` (any object, handed over) for `target`.
        On error the payload stays with the caller and JzxError is raised."""
        ptr = self._loop("jzx_send")
        target, tag = _id(target), _u32(tag, "tag")
        key = self._park(payload)
        err = lib.jzx_send(ptr, target, key, 0, tag)
        if err:
            self._unpark(key)
            raise JzxError(err, "jzx_send")

    def send_async(self, target, payload=None, tag=0):
        """jzx_send_async: jzx_send from any thread. If the target is gone or
        full when the message arrives, the payload goes to on_drop."""
        target, tag = _id(target), _u32(tag, "tag")
        key = self._park(payload)
        with self._ptr_lock:
            ptr = self._ptr
            err = lib.jzx_send_async(ptr, target, key, 0, tag) if ptr else Err.LOOP_CLOSED
        if err:
            self._unpark(key)
            raise JzxError(err, "jzx_send_async")

    def send_after(self, target, ms, payload=None, tag=0):
        """jzx_send_after: send `payload` to `target` after `ms` milliseconds.
        Returns the timer id for cancel_timer."""
        ptr = self._loop("jzx_send_after")
        target, ms, tag = _id(target), _u32(ms, "ms"), _u32(tag, "tag")
        key = self._park(payload)
        out = c_uint64()
        err = lib.jzx_send_after(ptr, target, ms, key, 0, tag, byref(out))
        if err:
            self._unpark(key)
            raise JzxError(err, "jzx_send_after")
        # Safe after the call: a timer fires only inside run(), on this thread.
        with self._lock:
            self._payloads[key] = (payload, out.value)
            self._timers[out.value] = key
        return out.value

    def cancel_timer(self, timer):
        """jzx_cancel_timer: disarm a timer and return its payload."""
        check(lib.jzx_cancel_timer(self._loop("jzx_cancel_timer"), timer), "jzx_cancel_timer")
        with self._lock:
            key = self._timers.pop(timer)
            return self._payloads.pop(key)[0]

    # ---- supervisors ------------------------------------------------------

    def spawn_supervisor(self, spec, *, parent=0):
        """jzx_spawn_supervisor: start a supervisor from a Supervisor spec
        (children may nest Supervisors). `parent` (0 for none) gets a
        ChildExit when it ends. Returns the supervisor's id."""
        ptr = self._loop("jzx_spawn_supervisor")
        keys, buffers = [], []
        try:
            init = self._build_init(spec, keys, buffers)
            out = c_uint64()
            err = lib.jzx_spawn_supervisor(ptr, byref(init), parent, byref(out))
            check(err, "jzx_spawn_supervisor")
        except BaseException:
            for key in keys:
                del self._behaviours[key]
            raise
        # Child names are kept as pointers by the supervisor's copy of the
        # spec: the buffers live as long as it does.
        self._owned[out.value] = (keys, buffers)
        return out.value

    def child_id(self, supervisor, index):
        """jzx_supervisor_child_id: the current id of child `index` (0 while
        it is down awaiting a restart)."""
        out = c_uint64()
        err = lib.jzx_supervisor_child_id(
            self._loop("jzx_supervisor_child_id"), supervisor, index, byref(out)
        )
        check(err, "jzx_supervisor_child_id")
        return out.value

    def _build_init(self, spec, keys, buffers):
        children = (_ffi.jzx_child_spec * len(spec.children))()
        for c, child in zip(children, spec.children):
            if child.supervisor is not None:
                c.supervisor = pointer(self._build_init(child.supervisor, keys, buffers))
            elif child.behavior is not None:
                if not callable(child.behavior):
                    raise TypeError("ChildSpec.behavior must be callable")
                key = self._add_behaviour(child.behavior)
                keys.append(key)
                c.behavior = self._c_behaviour
                c.state = key
            c.mode = int(child.mode)
            c.mailbox_cap = _u32(child.mailbox_cap, "mailbox_cap")
            c.restart_delay_ms = _u32(child.restart_delay_ms, "restart_delay_ms")
            c.backoff = int(child.backoff)
            if child.name is not None:
                name = child.name.encode()
                buffers.append(name)
                c.name = name
        buffers.append(children)
        policy = _ffi.jzx_supervisor_spec(
            int(spec.strategy),
            _u32(spec.intensity, "intensity"),
            _u32(spec.period_ms, "period_ms"),
            int(spec.backoff),
            _u32(spec.backoff_delay_ms, "backoff_delay_ms"),
        )
        init = _ffi.jzx_supervisor_init(
            cast(children, POINTER(_ffi.jzx_child_spec)), len(spec.children), policy
        )
        buffers.append(init)
        return init

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

    def _park(self, payload):
        key = next(self._keys)
        with self._lock:
            self._payloads[key] = (payload, 0)
        return key

    def _unpark(self, key):
        with self._lock:
            payload, timer = self._payloads.pop(key)
            if timer:
                del self._timers[timer]
        return payload

    def _add_behaviour(self, behavior):
        key = next(self._keys)
        self._behaviours[key] = behavior
        return key

    def _report(self, exc, where):
        if not isinstance(exc, Exception):
            # KeyboardInterrupt, SystemExit: stop the loop and let run() raise it.
            self._pending_exit = exc
            if self._ptr:  # None inside close(), which raises it afterwards
                lib.jzx_loop_request_stop(self._ptr)
            return
        try:
            self._on_error(exc, where)
        except Exception as inner:
            _print_error(inner, "on_error")

    # ---- called by libjzx, on the loop thread ------------------------------

    def _behaviour_call(self, ctx_p, msg_p):
        ctx, msg = ctx_p.contents, msg_p.contents
        actor = ctx.self
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
            elif tag >= _ffi.TAG_SYS_MIN:
                payload = None  # SHUTDOWN, or a newer one: lent, and nothing we know how to read
            else:
                payload = self._unpark(msg.data) if msg.data else None
            behaviour = self._behaviours[ctx.state]
            result = behaviour(Context(actor, self), Message(payload, tag, msg.sender))
            if result is None:
                return Result.OK
            if isinstance(result, bool) or result not in (Result.OK, Result.STOP, Result.FAIL):
                raise TypeError(f"behaviour returned {result!r}, not None or a jzx.Result")
            return int(result)
        except BaseException as exc:
            self._report(exc, f"the behaviour of actor {actor:#x}")
            return Result.FAIL if isinstance(exc, Exception) else Result.OK

    def _drop_call(self, ctx, target, msg_p, reason):
        msg = msg_p.contents
        try:
            payload = self._unpark(msg.data) if msg.data else None
            if self._on_drop is not None:
                self._on_drop(target, payload, msg.tag, _enum(DropReason, reason))
        except BaseException as exc:
            self._report(exc, "on_drop")

    def _clock_call(self, ctx):
        try:
            now = int(self._clock())
            if now > self._clock_last:
                self._clock_last = now
        except BaseException as exc:
            self._report(exc, "clock")
        return self._clock_last  # never backwards, even if the callable errs

    def _notify(self, hook, *args):
        fn = getattr(self._observer, hook, None)
        if fn is None:
            return
        try:
            fn(*args)
        except BaseException as exc:
            self._report(exc, f"observer.{hook}")

    def _hook_on_actor_start(self, ctx, actor, name):
        self._notify("on_actor_start", actor, name.decode() if name is not None else None)

    def _hook_on_actor_stop(self, ctx, actor, reason):
        owned = self._owned.pop(actor, None)
        if owned is not None:
            for key in owned[0]:
                del self._behaviours[key]
        self._notify("on_actor_stop", actor, _enum(ExitReason, reason))

    def _hook_on_actor_restart(self, ctx, supervisor, child, attempt):
        self._notify("on_actor_restart", supervisor, child, attempt)

    def _hook_on_supervisor_escalate(self, ctx, supervisor):
        self._notify("on_supervisor_escalate", supervisor)

    def _hook_on_mailbox_full(self, ctx, target):
        self._notify("on_mailbox_full", target)

