/* Frame encoding and decoding (wire.h). Little-endian whatever the host, so
 * nodes on different machines agree; the fuzzer in test/fuzz feeds
 * jzx__frame_read arbitrary bytes.
 */
#include "wire.h"

#include <string.h>

static void put64(uint8_t* p, uint64_t v) {
    for (int i = 0; i < 8; ++i) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void put32(uint8_t* p, uint32_t v) {
    for (int i = 0; i < 4; ++i) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint64_t get64(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) {
        v = v << 8 | p[i];
    }
    return v;
}

static uint32_t get32(const uint8_t* p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) {
        v = v << 8 | p[i];
    }
    return v;
}

bool jzx__wire_name_ok(const char* name, size_t len) {
    if (len == 0 || len > JZX__WIRE_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; ++i) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

size_t jzx__frame_size(const jzx__frame* f) {
    return JZX__WIRE_HEADER + f->node_len + f->payload_len;
}

/* Layout: 'J' 'Z' version type | incarnation | from | to | tag | ref |
 * node length (2 bytes) | node | payload. */
void jzx__frame_write(const jzx__frame* f, uint8_t* out) {
    out[0] = 'J';
    out[1] = 'Z';
    out[2] = JZX__WIRE_VERSION;
    out[3] = f->type;
    put64(out + 4, f->incarnation);
    put64(out + 12, f->from);
    put64(out + 20, f->to);
    put32(out + 28, f->tag);
    put64(out + 32, f->ref);
    out[40] = (uint8_t)f->node_len;
    out[41] = (uint8_t)(f->node_len >> 8);
    memcpy(out + JZX__WIRE_HEADER, f->node, f->node_len);
    if (f->payload_len) {
        memcpy(out + JZX__WIRE_HEADER + f->node_len, f->payload, f->payload_len);
    }
}

bool jzx__frame_read(const void* bytes, size_t n, jzx__frame* out) {
    const uint8_t* p = bytes;
    if (!p || n < JZX__WIRE_HEADER || p[0] != 'J' || p[1] != 'Z' || p[2] != JZX__WIRE_VERSION ||
        p[3] < JZX__W_HB || p[3] > JZX__W_LAST) {
        return false;
    }
    uint32_t node_len = (uint32_t)p[40] | (uint32_t)p[41] << 8;
    if (node_len > n - JZX__WIRE_HEADER ||
        !jzx__wire_name_ok((const char*)p + JZX__WIRE_HEADER, node_len)) {
        return false;
    }
    out->type = p[3];
    out->incarnation = get64(p + 4);
    out->from = get64(p + 12);
    out->to = get64(p + 20);
    out->tag = get32(p + 28);
    out->ref = get64(p + 32);
    out->node = (const char*)p + JZX__WIRE_HEADER;
    out->node_len = node_len;
    out->payload = p + JZX__WIRE_HEADER + node_len;
    out->payload_len = n - JZX__WIRE_HEADER - node_len;
    return true;
}
