"""The C side: loads libjzx and mirrors include/jzx/jzx.h with ctypes.

Every struct here must have the layout its C namesake has (docs/abi.md);
tests/test_abi.py checks each against src/abi.c and jzx.h, and the released
part against the committed ABI baseline. Enums are int-sized in the C ABI
(src/abi.c asserts it), so enum fields are c_int.
"""

import ctypes
import os
import warnings
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char_p,
    c_int,
    c_size_t,
    c_uint32,
    c_uint64,
    c_void_p,
)

SONAME = "libjzx.so.0"
#: The ABI this module mirrors, and the oldest libjzx it accepts: 0.x from
#: 0.3 on (jzx_child_spec grew in 0.3, so an older library would read the
#: children arrays with the wrong stride).
ABI_MAJOR, ABI_MINOR = 0, 3

TAG_SYS_MIN = 0xFFFF0000
TAG_SYS_IO = 0xFFFF0001
TAG_SYS_CHILD_EXIT = 0xFFFF0002
TAG_SYS_CHILD_RESTART = 0xFFFF0003  # internal to supervisors
TAG_SYS_DOWN = 0xFFFF0004
TAG_SYS_EXIT = 0xFFFF0005
TAG_SYS_SHUTDOWN = 0xFFFF0006
TAG_SYS_NO_REPLY = 0xFFFF0007
TAG_SYS_SPAWNED = 0xFFFF0008
IO_READ, IO_WRITE, IO_ERROR = 0x1, 0x2, 0x4

actor_id = c_uint64
timer_id = c_uint64
monitor_ref = c_uint64
request_id = c_uint64
loop_p = c_void_p  # jzx_loop is opaque
group_p = c_void_p  # so is jzx_group (0.2)


class jzx_allocator(Structure):
    _fields_ = [
        ("alloc", CFUNCTYPE(c_void_p, c_void_p, c_size_t)),
        ("free", CFUNCTYPE(None, c_void_p, c_void_p)),
        ("ctx", c_void_p),
    ]


class jzx_message(Structure):
    _fields_ = [
        ("data", c_void_p),
        ("len", c_size_t),
        ("tag", c_uint32),
        ("sender", actor_id),
        # Added in 0.2.0.
        ("request", request_id),
        ("in_reply_to", request_id),
    ]


drop_fn = CFUNCTYPE(None, c_void_p, actor_id, POINTER(jzx_message), c_int)
clock_fn = CFUNCTYPE(c_uint64, c_void_p)


class jzx_config(Structure):
    _fields_ = [
        ("allocator", jzx_allocator),
        ("max_actors", c_uint32),
        ("default_mailbox_cap", c_uint32),
        ("max_msgs_per_actor", c_uint32),
        ("max_actors_per_tick", c_uint32),
        ("max_io_watchers", c_uint32),
        ("io_poll_timeout_ms", c_uint32),
        ("on_drop", drop_fn),
        ("drop_ctx", c_void_p),
        ("clock", clock_fn),
        ("clock_ctx", c_void_p),
    ]


class jzx_context(Structure):
    _fields_ = [("state", c_void_p), ("self", actor_id), ("loop", loop_p)]


behavior_fn = CFUNCTYPE(c_int, POINTER(jzx_context), POINTER(jzx_message))
# (0.2) init(ctx, arg, &state) -> jzx_err; terminate(ctx, reason, state).
init_fn = CFUNCTYPE(c_int, POINTER(jzx_context), c_void_p, POINTER(c_void_p))
terminate_fn = CFUNCTYPE(None, POINTER(jzx_context), c_int, c_void_p)


class jzx_spawn_opts(Structure):
    _fields_ = [
        ("behavior", behavior_fn),
        ("state", c_void_p),
        ("supervisor", actor_id),
        ("mailbox_cap", c_uint32),
        ("name", c_char_p),
        # Added in 0.2.0.
        ("init", init_fn),
        ("init_arg", c_void_p),
        ("terminate", terminate_fn),
        ("shutdown_ms", c_uint32),
    ]


class jzx_supervisor_spec(Structure):
    _fields_ = [
        ("strategy", c_int),
        ("intensity", c_uint32),
        ("period_ms", c_uint32),
        ("backoff", c_int),
        ("backoff_delay_ms", c_uint32),
        ("backoff_reset_ms", c_uint32),  # added in 0.2.0
    ]


class jzx_supervisor_init(Structure):
    pass  # fields below: it and jzx_child_spec refer to each other


class jzx_child_spec(Structure):
    _fields_ = [
        ("behavior", behavior_fn),
        ("state", c_void_p),
        ("mode", c_int),
        ("mailbox_cap", c_uint32),
        ("restart_delay_ms", c_uint32),
        ("backoff", c_int),
        ("name", c_char_p),
        ("supervisor", POINTER(jzx_supervisor_init)),
        # Added in 0.2.0.
        ("init", init_fn),
        ("init_arg", c_void_p),
        ("terminate", terminate_fn),
        ("shutdown_ms", c_uint32),
        ("register_as", c_char_p),
        # 0: the supervisor's loop; n: loop n - 1 of its group (96 bytes from 0.3).
        ("loop", c_uint32),
    ]


jzx_supervisor_init._fields_ = [
    ("children", POINTER(jzx_child_spec)),
    ("child_count", c_size_t),
    ("supervisor", jzx_supervisor_spec),
]


class jzx_io_event(Structure):
    _fields_ = [("fd", c_int), ("readiness", c_uint32)]


class jzx_child_exit(Structure):
    _fields_ = [("child", actor_id), ("status", c_int)]


class jzx_child_restart(Structure):
    _fields_ = [("child_index", c_uint32)]


class jzx_down(Structure):  # 0.2, borrowed by the receiver
    _fields_ = [("ref", monitor_ref), ("actor", actor_id), ("reason", c_int)]


class jzx_exit_signal(Structure):  # 0.2, borrowed by the receiver
    _fields_ = [("from", actor_id), ("reason", c_int)]


class jzx_spawned(Structure):  # 0.2, borrowed by the receiver
    _fields_ = [("ticket", c_uint64), ("id", actor_id), ("err", c_int)]


class jzx_no_reply(Structure):  # 0.2, borrowed by the receiver
    _fields_ = [("request", request_id), ("reason", c_int)]


class jzx_actor_info(Structure):  # 0.2, written by the library
    _fields_ = [
        ("id", actor_id),
        ("supervisor", actor_id),
        ("name", c_char_p),
        ("mailbox_len", c_uint32),
        ("mailbox_cap", c_uint32),
        ("messages_handled", c_uint64),
        ("monitors", c_uint32),
        ("links", c_uint32),
        ("is_supervisor", c_int),
        ("traps_exits", c_int),
    ]


# (0.2) jzx_loop_foreach_actor's callback: fn(ctx, info).
foreach_fn = CFUNCTYPE(None, c_void_p, POINTER(jzx_actor_info))


class jzx_observer(Structure):
    _fields_ = [
        ("on_actor_start", CFUNCTYPE(None, c_void_p, actor_id, c_char_p)),
        ("on_actor_stop", CFUNCTYPE(None, c_void_p, actor_id, c_int)),
        ("on_actor_restart", CFUNCTYPE(None, c_void_p, actor_id, actor_id, c_uint32)),
        ("on_supervisor_escalate", CFUNCTYPE(None, c_void_p, actor_id)),
        ("on_mailbox_full", CFUNCTYPE(None, c_void_p, actor_id)),
    ]


class jzx_stats(Structure):
    _fields_ = [
        (name, c_uint64)
        for name in (
            "live_actors",
            "messages_delivered",
            "mailbox_full",
            "restarts",
            "pending_timers",
            "watched_fds",
            "messages_dropped",
            "pending_async",
        )
    ]


#: Every public struct of jzx.h, mirrored.
STRUCTS = (
    jzx_allocator,
    jzx_message,
    jzx_config,
    jzx_context,
    jzx_spawn_opts,
    jzx_supervisor_spec,
    jzx_child_spec,
    jzx_supervisor_init,
    jzx_io_event,
    jzx_child_exit,
    jzx_child_restart,
    jzx_down,
    jzx_exit_signal,
    jzx_spawned,
    jzx_no_reply,
    jzx_actor_info,
    jzx_observer,
    jzx_stats,
)

_u64p = POINTER(c_uint64)
#: name: (restype, argtypes), in the header's order.
PROTOTYPES = {
    "jzx_version": (c_uint32, []),
    "jzx_version_string": (c_char_p, []),
    "jzx_strerror": (c_char_p, [c_int]),
    "jzx_config_init": (None, [POINTER(jzx_config)]),
    "jzx_loop_create": (loop_p, [POINTER(jzx_config)]),
    "jzx_loop_destroy": (None, [loop_p]),
    "jzx_loop_run": (c_int, [loop_p]),  # jzx_err from 0.2, int before: the same ABI
    "jzx_loop_request_stop": (None, [loop_p]),
    "jzx_loop_free": (None, [loop_p, c_void_p]),
    "jzx_loop_set_observer": (None, [loop_p, POINTER(jzx_observer), c_void_p]),
    "jzx_loop_add_observer": (c_int, [loop_p, POINTER(jzx_observer), c_void_p]),
    "jzx_loop_remove_observer": (c_int, [loop_p, POINTER(jzx_observer), c_void_p]),
    "jzx_loop_stats": (c_int, [loop_p, POINTER(jzx_stats)]),
    "jzx_spawn": (c_int, [loop_p, POINTER(jzx_spawn_opts), _u64p]),
    "jzx_send": (c_int, [loop_p, actor_id, c_void_p, c_size_t, c_uint32]),
    "jzx_send_async": (c_int, [loop_p, actor_id, c_void_p, c_size_t, c_uint32]),
    "jzx_actor_stop": (c_int, [loop_p, actor_id]),
    "jzx_actor_fail": (c_int, [loop_p, actor_id]),
    "jzx_become": (c_int, [POINTER(jzx_context), behavior_fn, c_void_p]),
    "jzx_monitor": (c_int, [loop_p, actor_id, actor_id, _u64p]),
    "jzx_demonitor": (c_int, [loop_p, monitor_ref]),
    "jzx_link": (c_int, [loop_p, actor_id, actor_id]),
    "jzx_unlink": (c_int, [loop_p, actor_id, actor_id]),
    "jzx_trap_exits": (c_int, [loop_p, actor_id, c_int]),
    "jzx_register": (c_int, [loop_p, c_char_p, actor_id]),
    "jzx_unregister": (c_int, [loop_p, c_char_p]),
    "jzx_whereis": (c_int, [loop_p, c_char_p, _u64p]),
    "jzx_send_named": (c_int, [loop_p, c_char_p, c_void_p, c_size_t, c_uint32]),
    "jzx_request": (
        c_int,
        [loop_p, actor_id, actor_id, c_void_p, c_size_t, c_uint32, c_uint32, _u64p],
    ),
    "jzx_reply": (c_int, [loop_p, POINTER(jzx_message), c_void_p, c_size_t, c_uint32]),
    "jzx_actor_info_get": (c_int, [loop_p, actor_id, POINTER(jzx_actor_info)]),
    "jzx_loop_foreach_actor": (c_int, [loop_p, foreach_fn, c_void_p]),
    "jzx_spawn_supervisor": (c_int, [loop_p, POINTER(jzx_supervisor_init), actor_id, _u64p]),
    "jzx_supervisor_child_id": (c_int, [loop_p, actor_id, c_size_t, _u64p]),
    "jzx_supervisor_start_child": (
        c_int,
        [loop_p, actor_id, POINTER(jzx_child_spec), POINTER(c_uint32), _u64p],
    ),
    "jzx_supervisor_terminate_child": (c_int, [loop_p, actor_id, c_uint32]),
    "jzx_supervisor_delete_child": (c_int, [loop_p, actor_id, c_uint32]),
    "jzx_send_after": (c_int, [loop_p, actor_id, c_uint32, c_void_p, c_size_t, c_uint32, _u64p]),
    "jzx_cancel_timer": (c_int, [loop_p, timer_id]),
    "jzx_watch_fd": (c_int, [loop_p, c_int, actor_id, c_uint32]),
    "jzx_unwatch_fd": (c_int, [loop_p, c_int]),
    # Groups (0.2).
    "jzx_group_create": (group_p, [c_uint32, POINTER(jzx_config)]),
    "jzx_group_size": (c_uint32, [group_p]),
    "jzx_group_loop": (loop_p, [group_p, c_uint32]),
    "jzx_group_run": (c_int, [group_p]),
    "jzx_group_request_stop": (None, [group_p]),
    "jzx_group_destroy": (None, [group_p]),
    "jzx_actor_loop_index": (c_uint32, [actor_id]),
    "jzx_spawn_on": (c_int, [loop_p, c_uint32, POINTER(jzx_spawn_opts), actor_id, _u64p]),
    # Bridges (0.3).
    "jzx_send_as": (c_int, [loop_p, actor_id, actor_id, c_void_p, c_size_t, c_uint32]),
    "jzx_reply_as": (
        c_int,
        [loop_p, actor_id, POINTER(jzx_message), c_void_p, c_size_t, c_uint32],
    ),
    "jzx_actor_exit": (c_int, [loop_p, actor_id, c_int]),
    "jzx_refuse": (c_int, [loop_p, POINTER(jzx_message), c_int]),
    "jzx_loop_alloc": (c_void_p, [loop_p, c_size_t]),
    "jzx_loop_drop": (None, [loop_p, actor_id, POINTER(jzx_message), c_int]),
}


def _bind(path):
    """dlopen `path` (OSError if it cannot be) and type its functions."""
    lib = ctypes.CDLL(path)
    # The version first: an older library lacks some of the functions below.
    for name in ("jzx_version", "jzx_version_string"):
        getattr(lib, name).restype, getattr(lib, name).argtypes = PROTOTYPES[name]
    version = lib.jzx_version()
    major, minor = version >> 16, (version >> 8) & 0xFF
    if major != ABI_MAJOR or minor < ABI_MINOR:
        raise ImportError(
            f"{path} is libjzx {lib.jzx_version_string().decode()}; "
            f"these bindings need {ABI_MAJOR}.x from {ABI_MAJOR}.{ABI_MINOR}"
        )
    for name, (restype, argtypes) in PROTOTYPES.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


def load(path=None):
    """Open libjzx: `path` if given, else the file $JZX_LIBRARY names, else
    the installed library, by its SONAME through the dynamic loader's search
    path. A $JZX_LIBRARY that cannot be loaded falls back to the installed
    library with a warning saying so. Refuses a library of another ABI."""
    if path:
        try:
            return _bind(path)
        except OSError as err:
            raise ImportError(f"cannot load libjzx from {path}: {err}") from err
    env, wrong = os.environ.get("JZX_LIBRARY"), None
    if env:
        try:
            return _bind(env)
        except OSError as err:
            wrong = f"JZX_LIBRARY={env} cannot be loaded ({err})"
    install = "install libjzx (Debian: libjzx0; or cmake --install)"
    try:
        lib = _bind(SONAME)
    except OSError as err:
        if wrong:
            raise ImportError(
                f"{wrong}, and there is no installed {SONAME} to fall back to ({err}): "
                f"point JZX_LIBRARY at a libjzx.so.0, or {install}"
            ) from err
        raise ImportError(
            f"cannot load {SONAME} ({err}): {install}, "
            "or set JZX_LIBRARY to the path of a libjzx.so.0"
        ) from err
    if wrong:
        warnings.warn(
            f"{wrong}; using the installed {SONAME} instead", RuntimeWarning, stacklevel=2
        )
    return lib


lib = load()


# ---- libjzx-nats (include/jzx/jzx_nats.h): optional, loaded on first use -----

NATS_SONAME = "libjzx-nats.so.0"
node_p = c_void_p  # jzx_node is opaque


class jzx_node_opts(Structure):
    _fields_ = [
        ("url", c_char_p),
        ("cluster", c_char_p),
        ("name", c_char_p),
        ("heartbeat_ms", c_uint32),
        ("down_after_ms", c_uint32),
    ]


# encode(ctx, tag, data, len, &bytes, &n) and decode(ctx, tag, bytes, n, &data, &len).
codec_fn = CFUNCTYPE(
    c_int, c_void_p, c_uint32, c_void_p, c_size_t, POINTER(c_void_p), POINTER(c_size_t)
)


class jzx_codec(Structure):
    _fields_ = [("encode", codec_fn), ("decode", codec_fn), ("ctx", c_void_p)]


class jzx_node_stats(Structure):
    _fields_ = [
        ("frames_sent", c_uint64),
        ("frames_received", c_uint64),
        ("bad_frames", c_uint64),
        ("remote_drops", c_uint64),
        ("unreachable", c_uint64),
        ("slow_consumer", c_uint64),
        ("reconnects", c_uint64),
        ("nodes_up", c_uint32),
        ("proxies", c_uint32),
    ]


#: Every public struct of jzx_nats.h, mirrored.
NATS_STRUCTS = (jzx_node_opts, jzx_codec, jzx_node_stats)

#: name: (restype, argtypes), in jzx_nats.h's order.
NATS_PROTOTYPES = {
    "jzx_node_start": (c_int, [loop_p, POINTER(jzx_node_opts), POINTER(node_p)]),
    "jzx_node_stop": (None, [node_p]),
    "jzx_node_lookup": (c_int, [node_p, c_char_p, c_char_p, c_uint32, _u64p]),
    "jzx_node_set_codec": (c_int, [node_p, c_uint32, POINTER(jzx_codec)]),
    "jzx_node_get_stats": (c_int, [node_p, POINTER(jzx_node_stats)]),
}

_nats = None  # the loaded libjzx-nats, once load_nats() found it


def _bind_nats(path):
    """dlopen libjzx-nats at `path` (OSError if it cannot be) and type its
    functions. Its libjzx.so.0 is the one already loaded: the dynamic loader
    matches a needed library against the loaded ones by SONAME."""
    nats = ctypes.CDLL(path)
    for name, (restype, argtypes) in NATS_PROTOTYPES.items():
        fn = getattr(nats, name)  # AttributeError: not a libjzx-nats
        fn.restype = restype
        fn.argtypes = argtypes
    return nats


def _nats_candidates():
    """Where libjzx-nats is looked for, in order: (path, what it is)."""
    env = os.environ.get("JZX_NATS_LIBRARY")
    if env:
        yield env, f"JZX_NATS_LIBRARY={env}"
        yield NATS_SONAME, f"the installed {NATS_SONAME}"
        return
    # libjzx from a file (JZX_LIBRARY, a build tree): its libjzx-nats beside it.
    if os.sep in lib._name:
        beside = os.path.join(os.path.dirname(lib._name), NATS_SONAME)
        if os.path.exists(beside):
            yield beside, f"{beside} (beside {lib._name})"
    yield NATS_SONAME, f"the installed {NATS_SONAME}"


def load_nats():
    """Open libjzx-nats, once: the file $JZX_NATS_LIBRARY names, else the
    libjzx-nats.so.0 beside a libjzx loaded from a file ($JZX_LIBRARY), else
    the installed one by its SONAME. A $JZX_NATS_LIBRARY that cannot be
    loaded falls back to the installed library with a warning. ImportError,
    saying what was tried, when none can be loaded: libjzx-nats is optional,
    so only jzx.Node needs it."""
    global _nats
    if _nats is not None:
        return _nats
    failures = []
    for path, what in _nats_candidates():
        try:
            nats = _bind_nats(path)
        except (OSError, AttributeError) as err:
            failures.append(f"{what}: {err}")
            continue
        if failures and os.environ.get("JZX_NATS_LIBRARY"):
            warnings.warn(f"{failures[0]}; using {what} instead", RuntimeWarning, stacklevel=3)
        _nats = nats
        return nats
    raise ImportError(
        "jzx.Node needs libjzx-nats, which cannot be loaded ("
        + "; ".join(failures)
        + "): install it (Debian: libjzx-nats0; or build libjzx with libnats and "
        "cmake --install), or set JZX_NATS_LIBRARY to the path of a libjzx-nats.so.0"
    )
