"""Python faces of jzx.h's enums and small structs, and JzxError."""

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Callable, Optional, Sequence

from . import _ffi


class Err(IntEnum):
    """jzx_err: every fallible call returns one of these."""

    OK = 0
    UNKNOWN = -1
    NO_MEMORY = -2
    INVALID_ARG = -3
    LOOP_CLOSED = -4
    NO_SUCH_ACTOR = -5
    MAILBOX_FULL = -7
    TIMER_INVALID = -8
    IO_REG_FAILED = -9
    IO_NOT_WATCHED = -10
    MAX_ACTORS = -11
    NAME_TAKEN = -12  # 0.2: the name, or the actor, is registered already
    TIMEOUT = -13  # 0.2: no reply came within the request's deadline
    NO_REQUEST = -14  # 0.2: the request already had its outcome, or never was


class DropReason(IntEnum):
    """jzx_drop_reason: why an accepted payload was not delivered."""

    NO_ACTOR = 1
    MAILBOX_FULL = 2
    ACTOR_ENDED = 3
    LOOP_DESTROYED = 4
    NOT_HANDLED = 5
    SENT_REMOTE = 6  # 0.3: sent to another node, the local payload is done with (libjzx-nats)
    LATE_REPLY = 7  # 0.2: a reply from another loop of the group, after the request's outcome
    UNREACHABLE = 8  # 0.3: for another node that could not be reached (libjzx-nats)


class Result(IntEnum):
    """jzx_behavior_result: what a behaviour returns (None means OK)."""

    OK = 0
    STOP = 1
    FAIL = 2


class ActorStatus(IntEnum):
    """jzx_actor_status, as in ChildExit.status."""

    INIT = 0
    RUNNING = 1
    STOPPING = 2
    STOPPED = 3
    FAILED = 4


class ExitReason(IntEnum):
    """jzx_exit_reason: why an actor ended, as given to an observer's
    on_actor_stop and to terminate hooks, and in Down and ExitSignal."""

    NORMAL = 0
    FAIL = 1
    SHUTDOWN = 2
    NOPROC = 3  # in a Down only: the monitored actor did not exist
    NOCONNECTION = 4  # 0.3: a proxy's node became unreachable (libjzx-nats; Loop.exit)


class ChildMode(IntEnum):
    """jzx_child_mode: when a supervisor restarts a child."""

    PERMANENT = 0
    TRANSIENT = 1
    TEMPORARY = 2


class Strategy(IntEnum):
    """jzx_supervisor_strategy: which children a restart involves."""

    ONE_FOR_ONE = 0
    ONE_FOR_ALL = 1
    REST_FOR_ONE = 2


class Backoff(IntEnum):
    """jzx_backoff_type: how the restart delay grows."""

    NONE = 0
    CONSTANT = 1
    EXPONENTIAL = 2


def _enum(cls, value):
    """`value` as a member of `cls`, or the plain int if a newer library
    returned a value this module does not know (docs/abi.md, rule 2)."""
    try:
        return cls(value)
    except ValueError:
        return value


class JzxError(Exception):
    """A jzx_err other than JZX_OK. `code` is an Err (or a plain int for a
    code newer than these bindings); `strerror` is jzx_strerror's text.

    JzxError(code) makes the subclass of that code where there is one:
    Timeout for TIMEOUT and NoSuchActor for NO_SUCH_ACTOR, whichever call
    failed, so `except jzx.NoSuchActor` catches every NO_SUCH_ACTOR."""

    def __new__(cls, code, call=""):
        if cls is JzxError:
            cls = _SUBCLASSES.get(int(code), cls)
        return super().__new__(cls, code, call)

    def __init__(self, code, call=""):
        self.code = _enum(Err, code)
        self.strerror = _ffi.lib.jzx_strerror(int(code)).decode()
        self.call = call
        name = self.code.name if isinstance(self.code, Err) else str(int(code))
        prefix = f"{call}: " if call else ""
        super().__init__(f"{prefix}{self.strerror} (JZX_ERR_{name}, {int(code)})")


class Timeout(JzxError):
    """JzxError with code Err.TIMEOUT: a request got no reply within its
    deadline (Loop.call)."""


class NoSuchActor(JzxError):
    """JzxError with code Err.NO_SUCH_ACTOR: an unknown, stale or ending
    actor id, or a name nobody holds; from Loop.call, also a target that
    ended before it replied."""


_SUBCLASSES = {Err.TIMEOUT: Timeout, Err.NO_SUCH_ACTOR: NoSuchActor}


def check(code, call):
    """Raise JzxError for a failed C call."""
    if code != Err.OK:
        raise JzxError(code, call)


@dataclass(frozen=True)
class Message:
    """What a behaviour receives. `payload` is the Python object that was
    sent (now the behaviour's); for system messages a ChildExit, IoEvent,
    Down, ExitSignal, NoReply or Spawned (copies, the behaviour's to keep),
    or None for TAG_SYS_SHUTDOWN. From another node (see Node), bytes, or
    what the tag's codec decoded; `sender` is then a proxy.

    (0.2) `request` is non-zero in a request: answer it with
    Loop.reply(msg, ...), now or later (the Message may be kept).
    `in_reply_to` is non-zero in a reply: the id Loop.request returned."""

    payload: Any
    tag: int
    sender: int  # the sending actor's id, 0 from outside any behaviour
    request: int = 0
    in_reply_to: int = 0


@dataclass(frozen=True)
class ChildExit:
    """Payload of a TAG_SYS_CHILD_EXIT message."""

    child: int
    status: ActorStatus


@dataclass(frozen=True)
class IoEvent:
    """Payload of a TAG_SYS_IO message."""

    fd: int
    readiness: int  # IO_READ | IO_WRITE | IO_ERROR


@dataclass(frozen=True)
class Down:
    """Payload of a TAG_SYS_DOWN message: a monitored actor ended."""

    ref: int  # what Loop.monitor returned
    actor: int  # the monitored actor (now stale)
    reason: ExitReason  # NOPROC if it did not exist when monitored


@dataclass(frozen=True)
class ExitSignal:
    """Payload of a TAG_SYS_EXIT message: a linked actor ended and the
    receiver traps exits. (`from_`: jzx_exit_signal.from.)"""

    from_: int  # the linked actor (now stale)
    reason: ExitReason


@dataclass(frozen=True)
class Spawned:
    """Payload of a TAG_SYS_SPAWNED message: the outcome of Loop.spawn_on,
    told to its `notify` actor."""

    ticket: int  # what Loop.spawn_on returned
    id: int  # the new actor, 0 if it could not start
    err: Err  # Err.OK, or why it could not start (init's error included)


@dataclass(frozen=True)
class NoReply:
    """Payload of a TAG_SYS_NO_REPLY message: the one outcome of a request
    that got no reply."""

    request: int  # what Loop.request returned
    reason: Err  # TIMEOUT, or NO_SUCH_ACTOR (the target ended first)


@dataclass(frozen=True)
class ActorInfo:
    """jzx_actor_info: one live actor, as Loop.actor_info and
    Loop.foreach_actor see it (a snapshot, the caller's to keep)."""

    id: int
    supervisor: int  # the actor that gets its ChildExit, 0 if none
    name: Optional[str]  # registered name, else its spawn or child-spec name, else None
    mailbox_len: int  # user messages queued
    mailbox_cap: int
    messages_handled: int  # messages its behaviours got, system ones included
    monitors: int  # monitors others hold on it
    links: int
    is_supervisor: bool
    traps_exits: bool


@dataclass(frozen=True)
class Stats:
    """jzx_stats: the counters of one loop."""

    live_actors: int
    messages_delivered: int
    mailbox_full: int
    restarts: int
    pending_timers: int
    watched_fds: int
    messages_dropped: int
    pending_async: int


@dataclass(frozen=True)
class NodeStats:
    """jzx_node_stats: what a Node (libjzx-nats) has done so far."""

    frames_sent: int  # frames handed to NATS (messages, requests, replies)
    frames_received: int  # frames taken from NATS, heartbeats included
    bad_frames: int  # dropped: truncated, unknown node or type, codec failed
    remote_drops: int  # messages that arrived here for an actor gone or full
    unreachable: int  # payloads given to on_drop with DropReason.UNREACHABLE
    slow_consumer: int  # messages NATS dropped because this node lagged
    reconnects: int  # times the connection to NATS came back
    nodes_up: int  # other nodes heard within down_after_ms
    proxies: int  # live proxies


Behaviour = Callable[["Context", Message], Optional[int]]
Init = Callable[["Context", Any], Any]  # init(ctx, init_arg) -> the state
Terminate = Callable[["Context", ExitReason, Any], None]  # terminate(ctx, reason, state)


@dataclass
class ChildSpec:
    """One child of a supervisor: a behaviour, or a nested Supervisor (which
    ignores state, init, init_arg and terminate). At every start the child's
    state is init(ctx, init_arg) if there is an init, else `state` (the same
    object each time); terminate(ctx, reason, state) ends every incarnation.
    With shutdown_ms, the supervisor stops the child by sending it
    TAG_SYS_SHUTDOWN first, and stops it shutdown_ms later if still alive.
    With register_as, every start of the child is registered under that
    name (Loop.whereis, Loop.send_named reach the current incarnation); a
    start fails with NAME_TAKEN if another actor holds it.
    (0.2) `loop`: 0 starts the child on its supervisor's loop, n on loop
    n - 1 of the supervisor's Group (so loop=2 is group.loops[1]). Such a
    child starts asynchronously: start_child and child_id give id 0 until
    its loop reports it started, and a start that fails there counts as a
    crash (init's error) or makes the supervisor escalate. A nested
    Supervisor stays on its parent's loop (another loop is INVALID_ARG)."""

    behavior: Optional[Behaviour] = None
    mode: ChildMode = ChildMode.PERMANENT
    name: Optional[str] = None
    mailbox_cap: int = 0
    restart_delay_ms: int = 0
    backoff: Backoff = Backoff.NONE
    supervisor: Optional["Supervisor"] = None
    # 0.2
    state: Any = None
    init: Optional[Init] = None
    init_arg: Any = None
    terminate: Optional[Terminate] = None
    shutdown_ms: int = 0
    register_as: Optional[str] = None
    loop: int = 0  # 0.2: 0, the supervisor's loop; n, loop n - 1 of its Group


@dataclass
class Supervisor:
    """A supervisor's children (started in order) and restart policy."""

    children: Sequence[ChildSpec] = field(default_factory=list)
    strategy: Strategy = Strategy.ONE_FOR_ONE
    intensity: int = 0  # restarts allowed per period; 0 = unlimited
    period_ms: int = 0
    backoff: Backoff = Backoff.NONE
    backoff_delay_ms: int = 0
    backoff_reset_ms: int = 0  # 0.2: up this long, a child's backoff starts over; 0 = never
