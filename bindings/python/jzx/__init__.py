"""libjzx for Python: actors, supervisors, monitors and links, names,
requests and replies, timers, cross-thread sends and groups of loops (one
thread each) on an Erlang-inspired runtime written in C, through ctypes only
(no compiler).

The library is loaded by its SONAME, libjzx.so.0, through the dynamic
loader's search path, or from the path in $JZX_LIBRARY.

    import jzx

    def echo(ctx, msg):
        print("got", msg.payload)
        return jzx.Result.STOP

    with jzx.Loop() as loop:
        actor = loop.spawn(echo)
        loop.send(actor, {"any": "object"})
        loop.run()

Behaviours are Python callables `behaviour(ctx, msg)`; payloads are any
Python objects, handed over on send and handed back to on_drop if they
cannot be delivered. Errors raise JzxError, whose `code` is a jzx.Err and
whose `strerror` is libjzx's own text (its subclasses Timeout and
NoSuchActor for those two codes). docs/embedding.md in the libjzx
sources describes the threading rules these bindings follow.

Node joins a loop to a cluster on NATS through libjzx-nats
(libjzx-nats.so.0, or the path in $JZX_NATS_LIBRARY), which is optional:
it is loaded by the first Node, and Node raises ImportError without it.
"""

from ._ffi import (
    IO_ERROR,
    IO_READ,
    IO_WRITE,
    TAG_SYS_CHILD_EXIT,
    TAG_SYS_DOWN,
    TAG_SYS_EXIT,
    TAG_SYS_IO,
    TAG_SYS_MIN,
    TAG_SYS_NO_REPLY,
    TAG_SYS_SHUTDOWN,
    TAG_SYS_SPAWNED,
    lib,
)
from ._group import Group, actor_loop_index
from ._loop import Context, Loop
from ._nats import Node
from ._types import (
    ActorInfo,
    ActorStatus,
    Backoff,
    ChildExit,
    ChildMode,
    ChildSpec,
    Down,
    DropReason,
    Err,
    ExitReason,
    ExitSignal,
    IoEvent,
    JzxError,
    Message,
    NoReply,
    NodeStats,
    NoSuchActor,
    Result,
    Spawned,
    Stats,
    Strategy,
    Supervisor,
    Timeout,
)

__version__ = "0.3.0"


def version():
    """jzx_version(): the loaded library's version as (major << 16) | (minor << 8) | patch."""
    return lib.jzx_version()


def version_string():
    """jzx_version_string(): the loaded library's version as "major.minor.patch"."""
    return lib.jzx_version_string().decode()


def strerror(code):
    """jzx_strerror(code)."""
    return lib.jzx_strerror(int(code)).decode()


__all__ = [
    "ActorInfo",
    "ActorStatus",
    "Backoff",
    "ChildExit",
    "ChildMode",
    "ChildSpec",
    "Context",
    "Down",
    "DropReason",
    "Err",
    "ExitReason",
    "ExitSignal",
    "Group",
    "IO_ERROR",
    "IO_READ",
    "IO_WRITE",
    "IoEvent",
    "JzxError",
    "Loop",
    "Message",
    "Node",
    "NodeStats",
    "NoReply",
    "NoSuchActor",
    "Result",
    "Spawned",
    "Stats",
    "Strategy",
    "Supervisor",
    "TAG_SYS_CHILD_EXIT",
    "TAG_SYS_DOWN",
    "TAG_SYS_EXIT",
    "TAG_SYS_IO",
    "TAG_SYS_MIN",
    "TAG_SYS_NO_REPLY",
    "TAG_SYS_SHUTDOWN",
    "TAG_SYS_SPAWNED",
    "Timeout",
    "actor_loop_index",
    "strerror",
    "version",
    "version_string",
]
