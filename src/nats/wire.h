/* The frames libjzx-nats nodes exchange over NATS: one fixed little-endian
 * header, the sending node's name, then the payload bytes. Decoding checks
 * every length, so any bytes from the network are safe to give it. See
 * docs/cluster.md, "Wire format".
 */
#ifndef JZX_NATS_WIRE_H
#define JZX_NATS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JZX__WIRE_VERSION 1u
#define JZX__WIRE_HEADER 42u   /* bytes before the node name */
#define JZX__WIRE_NAME_MAX 64u /* node names are 1..64 bytes */

/* What a frame is. */
enum {
    JZX__W_HB = 1,       /* I am alive (tag: my heartbeat_ms) */
    JZX__W_BYE,          /* I am leaving */
    JZX__W_SEND,         /* from -> to, tag, payload */
    JZX__W_REQUEST,      /* as SEND, ref: the requester's request id */
    JZX__W_REPLY,        /* from (replier) -> to (requester), ref: the request id */
    JZX__W_EXIT,         /* my actor `from` ended, tag: its jzx_exit_reason */
    JZX__W_LOOKUP_REPLY, /* tag 1: `to` is the actor asked for; tag 0: no such name */
    JZX__W_REFUSE,       /* request `ref` of `to` could not be delivered; tag: -jzx_err */
    JZX__W_LAST = JZX__W_REFUSE
};

typedef struct jzx__frame {
    uint8_t type;
    uint64_t incarnation; /* the sending node's, new at each start */
    uint64_t from;
    uint64_t to;
    uint32_t tag;
    uint64_t ref;
    const char* node; /* the sending node's name, not NUL-terminated */
    uint32_t node_len;
    const void* payload;
    size_t payload_len;
} jzx__frame;

/* A node name: 1..64 of [A-Za-z0-9_-] (so it is one NATS subject token). */
bool jzx__wire_name_ok(const char* name, size_t len);
/* The bytes jzx__frame_write needs. */
size_t jzx__frame_size(const jzx__frame* f);
void jzx__frame_write(const jzx__frame* f, uint8_t* out);
/* false if the bytes are not a well-formed frame; `out` then means
 * nothing. On success its node and payload point into `bytes`. */
bool jzx__frame_read(const void* bytes, size_t n, jzx__frame* out);

#endif
