"""Node: a Loop's presence in a cluster on NATS, through libjzx-nats
(include/jzx/jzx_nats.h, docs/cluster.md in the libjzx sources).

libjzx-nats is optional: it is loaded by the first Node (_ffi.load_nats),
so `import jzx` works without it, and Node raises ImportError, saying what
it tried, when it cannot be loaded.

A proxy stands for an actor of another node: an actor of C code on the
node's loop, whose behaviour reads `len` bytes at a message's `data` and
publishes them. So what the binding sends to an actor of C code on a loop
with a Node (the Loop tells those apart with an observer: every Python
actor starts through the init trampoline, so any other start but a
supervisor's is C code's) is not a parked key but C memory from
jzx_loop_alloc holding the payload's bytes, at their len, parked under its
address so that on_drop (SENT_REMOTE once it is published, UNREACHABLE)
gets the Python object back and the memory is freed. Unless the tag has a
codec: then the key goes, and the node calls the codec's encode, which
reads the object from the registry.

What comes from another node is C memory from jzx_loop_alloc, the
receiver's: a behaviour or on_drop gets its bytes, and the binding frees
it. A codec's decode parks the object it makes under the address of one
byte from jzx_loop_alloc (libjzx-nats takes a decoded payload for C
memory), sent on at len 0, which a behaviour or on_drop takes out.
"""

import ctypes
from ctypes import byref, c_uint64, c_void_p

from . import _ffi
from ._ffi import lib
from ._types import Err, JzxError, NodeStats, check


def _u32(value, what):
    value = int(value)
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"{what} must fit in 32 bits, got {value}")
    return value


def _text(value, what):
    """A str (UTF-8) or bytes argument as the C string libjzx-nats copies."""
    if isinstance(value, str):
        value = value.encode("utf-8")
    elif isinstance(value, (bytes, bytearray)):
        value = bytes(value)
    else:
        raise TypeError(f"{what} is a str, not {type(value).__name__}")
    if b"\0" in value:
        raise ValueError(f"{what} cannot contain NUL")
    return value


def _raw(value):
    """What an encode returned, as bytes (str: its UTF-8)."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"a codec's encode returns bytes or str, not {type(value).__name__}")


def _code(exc):
    """The jzx_err a codec hands back for an exception."""
    code = int(exc.code) if isinstance(exc, JzxError) else 0
    return code if code < 0 else Err.UNKNOWN


class Node:
    """jzx_node_start: connect `loop` to the cluster `cluster` (a NATS
    subject prefix: tokens separated by dots, no wildcards) on the NATS
    server(s) at `url` (a str, comma-separated, or a list of them), as node
    `name` (1..64 of [A-Za-z0-9_-], unique in the cluster). Nodes heartbeat
    every heartbeat_ms (0: 1000); one unheard for down_after_ms (0: three
    heartbeats; it must be longer than heartbeat_ms) is down. Keyword-only
    arguments; `loop.start_node(...)` is the same.

    From the owner thread, while the loop is not running, or from a
    behaviour of the loop. The node keeps the loop running: run() returns
    only after stop() (from a behaviour) or request_stop(). Stop it with
    stop() or a `with` block; Loop.close() and Group.close() stop the nodes
    still attached first.

    JzxError INVALID_ARG (a bad name or cluster, down_after_ms <=
    heartbeat_ms), NAME_TAKEN (another node of this process has that name
    in that cluster), IO_REG_FAILED (no NATS server could be reached);
    ImportError if libjzx-nats cannot be loaded ($JZX_NATS_LIBRARY, else
    the libjzx-nats.so.0 beside a $JZX_LIBRARY, else the installed one).

    Payloads cross as bytes: bytes, bytearray, memoryview or str sent to a
    proxy arrive as bytes on the other node (str as its UTF-8); a tag with
    a codec (set_codec) crosses as its encode makes it. Every payload sent
    to a proxy then goes to on_drop: DropReason.SENT_REMOTE once published,
    UNREACHABLE if it could not be. Requests, replies, monitors and links
    work on proxies as on local actors (a proxy ends with
    ExitReason.NOCONNECTION when its node stops or goes silent)."""

    def __init__(self, loop, *, url, cluster, name, heartbeat_ms=0, down_after_ms=0):
        self._ptr = None
        self._loop = loop
        self._nats = _ffi.load_nats()
        if isinstance(url, (list, tuple)):
            url = ",".join(url)
        self.url, self.cluster, self.name = url, cluster, name
        opts = _ffi.jzx_node_opts(
            _text(url, "url"),
            _text(cluster, "cluster"),
            _text(name, "name"),
            _u32(heartbeat_ms, "heartbeat_ms"),
            _u32(down_after_ms, "down_after_ms"),
        )
        self._codecs = {}  # tag -> (encode, decode)
        # The C codec of every tag: the same two trampolines, told the tag.
        self._c_encode = _ffi.codec_fn(self._encode)
        self._c_decode = _ffi.codec_fn(self._decode)
        loop_ptr = loop._loop("jzx_node_start")
        if loop._in_hooks:
            raise JzxError(Err.LOOP_CLOSED, "jzx_node_start (from init, terminate or a hook)")
        loop._track_c_actors()  # before the gateway starts
        out = c_void_p()
        err = self._nats.jzx_node_start(loop_ptr, byref(opts), byref(out))
        what = f"node {name!r} of cluster {cluster!r}"
        if err == Err.IO_REG_FAILED:  # its jzx_strerror speaks of fds
            raise JzxError(err, f"jzx_node_start ({what}): no NATS server reachable at {url}")
        check(err, f"jzx_node_start ({what} at {url})")
        self._ptr = out.value
        loop._nodes.append(self)

    @staticmethod
    def load():
        """Load libjzx-nats now (as the first Node does) and return it, or
        raise ImportError saying why it cannot be."""
        return _ffi.load_nats()

    @staticmethod
    def available():
        """Whether libjzx-nats can be loaded (see load)."""
        try:
            _ffi.load_nats()
        except ImportError:
            return False
        return True

    def __repr__(self):
        state = "stopped" if self._ptr is None else "up"
        return f"<jzx.Node {self.name!r} of {self.cluster!r} at {self.url} ({state})>"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def loop(self):
        return self._loop

    @property
    def stopped(self):
        return self._ptr is None

    def _node(self, call):
        if self._ptr is None:
            raise JzxError(Err.LOOP_CLOSED, f"{call} (the node is stopped)")
        return self._ptr

    def stop(self):
        """jzx_node_stop: leave the cluster. The other nodes learn at once:
        their proxies of this node's actors end with NOCONNECTION, as this
        node's proxies do here. From the owner thread while the loop is not
        running, or from a behaviour; not from init, terminate or an
        observer hook (JzxError LOOP_CLOSED). Again: nothing."""
        if self._ptr is None:
            return
        loop = self._loop
        if loop._in_hooks:
            raise JzxError(Err.LOOP_CLOSED, "jzx_node_stop (from init, terminate or a hook)")
        ptr, self._ptr = self._ptr, None
        try:
            self._nats.jzx_node_stop(ptr)
        finally:
            loop._nodes.remove(self)
            for tag in self._codecs:
                self._uncount(tag)
            self._codecs.clear()

    def lookup(self, node, actor, timeout_ms=1000):
        """jzx_node_lookup: the id of a proxy for the actor registered as
        `actor` on node `node` (this node's own name: the actor itself).
        The same remote actor gives the same proxy while it lives. Blocks
        the loop for at most timeout_ms (0: 1000): from the owner thread
        while the loop is not running, or from a behaviour. NoSuchActor (no
        such name there, or no node of that name answered), Timeout."""
        ptr = self._node("jzx_node_lookup")
        out = c_uint64()
        err = self._nats.jzx_node_lookup(
            ptr,
            _text(node, "node"),
            _text(actor, "actor"),
            _u32(timeout_ms, "timeout_ms"),
            byref(out),
        )
        check(err, f"jzx_node_lookup ({actor!r} on node {node!r})")
        return out.value

    def set_codec(self, tag, encode=None, decode=None):
        """jzx_node_set_codec: how payloads of `tag` cross between nodes.
        `encode(payload)` returns bytes (or str: its UTF-8) for what a proxy
        of this node sends; `decode(data)` turns the bytes that arrive into
        the payload a behaviour gets. Both ends need the same codec, and
        both run on the loop thread. An exception in either goes to
        on_error and drops the message (counted in stats().bad_frames; an
        encode that raises sends the payload to on_drop as UNREACHABLE).
        Without encode and decode, the tag has no codec again. With several
        Nodes on a loop or group, give them the same codecs.

        Not pickle for bytes from the network: decode runs on whatever
        another node sends. Without a codec, a tag crosses as raw bytes."""
        ptr = self._node("jzx_node_set_codec")
        tag = _u32(tag, "tag")
        if encode is None and decode is None:
            check(self._nats.jzx_node_set_codec(ptr, tag, None), "jzx_node_set_codec")
            if self._codecs.pop(tag, None) is not None:
                self._uncount(tag)
            return
        if not callable(encode) or not callable(decode):
            raise TypeError("set_codec needs a callable encode and a callable decode")
        c = _ffi.jzx_codec(self._c_encode, self._c_decode, None)
        check(self._nats.jzx_node_set_codec(ptr, tag, byref(c)), "jzx_node_set_codec")
        if tag not in self._codecs:
            tags = self._loop._rt.codec_tags
            tags[tag] = tags.get(tag, 0) + 1
        self._codecs[tag] = (encode, decode)

    def _uncount(self, tag):
        tags = self._loop._rt.codec_tags
        tags[tag] -= 1
        if not tags[tag]:
            del tags[tag]

    def stats(self):
        """jzx_node_get_stats, as a NodeStats."""
        out = _ffi.jzx_node_stats()
        ptr = self._node("jzx_node_get_stats")
        check(self._nats.jzx_node_get_stats(ptr, byref(out)), "jzx_node_get_stats")
        return NodeStats(*(getattr(out, name) for name, _ in out._fields_))

    # ---- called by libjzx-nats, on the loop thread ------------------------------

    def _encode(self, ctx, tag, data, length, bytes_p, n_p):
        rt = self._loop._rt
        try:
            encode = self._codecs[tag][0]
            raw = _raw(encode(rt.peek(data, length)))
            address = None
            if raw:
                address = lib.jzx_loop_alloc(self._loop._ptr, len(raw))
                if not address:
                    return Err.NO_MEMORY
                ctypes.memmove(address, raw, len(raw))
            bytes_p[0] = address
            n_p[0] = len(raw)
            return Err.OK
        except BaseException as exc:
            rt.report(exc, f"the encode of tag {tag} (node {self.name})")
            return _code(exc)

    def _decode(self, ctx, tag, raw, n, data_p, len_p):
        rt = self._loop._rt
        try:
            decode = self._codecs[tag][1]
            payload = decode(ctypes.string_at(raw, n) if n else b"")
            address = rt.park_decoded(self._loop._ptr, payload)
            if not address:
                return Err.NO_MEMORY
            data_p[0] = address
            len_p[0] = 0
            return Err.OK
        except BaseException as exc:
            rt.report(exc, f"the decode of tag {tag} (node {self.name})")
            return _code(exc)
