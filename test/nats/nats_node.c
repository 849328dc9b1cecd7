/* A node in a process of its own, for the tests in test/nats (the test
 * starts it with fork/exec, talks to it by lines, and kills it with -9):
 *
 *   nats_node URL CLUSTER NAME HEARTBEAT_MS DOWN_AFTER_MS
 *
 * Registers "echo" (tag 10 goes back to its sender as tag 11, a request of
 * tag 20 is answered with the same bytes as tag 21, every user message is
 * printed as "GOT <tag> <len> <text>"), "crash" (fails on any message) and
 * "quit" (stops on any message). Prints "START <err>", then "READY". Reads
 * commands on stdin:
 *
 *   lookup NODE ACTOR      prints "LOOKUP <err>"
 *   send NODE ACTOR TEXT   looks the actor up and sends it TEXT (tag 12) from
 *                          "echo"; prints "SENT <err>"
 *   stop                   jzx_node_stop (graceful), then exits 0
 *
 * End of input is a stop too. The tags are those of nats_harness.h.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jzx/jzx_nats.h>

enum { T_ECHO = 10, T_ECHOED = 11, T_HELLO = 12, T_REQ = 20, T_REPLY = 21 };

static jzx_loop* the_loop;
static jzx_node* node;
static jzx_actor_id echo_id;

static void say(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static void on_drop(void* ctx, jzx_actor_id target, const jzx_message* msg,
                    jzx_drop_reason reason) {
    (void)ctx;
    (void)target;
    (void)reason;
    jzx_loop_free(the_loop, msg->data); /* every payload here is the loop's */
}

static void* copy(jzx_loop* loop, const void* data, size_t len) {
    void* c = data && len ? jzx_loop_alloc(loop, len) : NULL;
    if (c) {
        memcpy(c, data, len);
    }
    return c;
}

static jzx_behavior_result echo(jzx_context* ctx, const jzx_message* msg) {
    if (msg->tag >= JZX_TAG_SYS_MIN) {
        return JZX_BEHAVIOR_OK;
    }
    bool text = msg->data && msg->len < 200;
    for (size_t i = 0; text && i < msg->len; ++i) {
        char c = ((const char*)msg->data)[i];
        text = c >= ' ' && c <= '~';
    }
    say("GOT %u %zu %.*s", msg->tag, msg->len, text ? (int)msg->len : 1,
        text ? (const char*)msg->data : "-");
    void* c = copy(ctx->loop, msg->data, msg->len);
    jzx_err err = JZX_ERR_INVALID_ARG;
    if (msg->tag == T_ECHO) {
        err = jzx_send(ctx->loop, msg->sender, c, msg->len, T_ECHOED);
    } else if (msg->tag == T_REQ && msg->request) {
        err = jzx_reply(ctx->loop, msg, c, msg->len, T_REPLY);
    }
    if (err != JZX_OK) {
        jzx_loop_free(ctx->loop, c);
    }
    jzx_loop_free(ctx->loop, msg->data);
    return JZX_BEHAVIOR_OK;
}

static jzx_behavior_result crash(jzx_context* ctx, const jzx_message* msg) {
    if (msg->tag >= JZX_TAG_SYS_MIN) {
        return JZX_BEHAVIOR_OK;
    }
    jzx_loop_free(ctx->loop, msg->data);
    return JZX_BEHAVIOR_FAIL;
}

static jzx_behavior_result quit(jzx_context* ctx, const jzx_message* msg) {
    if (msg->tag >= JZX_TAG_SYS_MIN) {
        return JZX_BEHAVIOR_OK;
    }
    jzx_loop_free(ctx->loop, msg->data);
    return JZX_BEHAVIOR_STOP;
}

static void stop_all(jzx_loop* loop) {
    jzx_node_stop(node);
    node = NULL;
    (void)jzx_unwatch_fd(loop, 0);
    jzx_loop_request_stop(loop);
}

static void command(jzx_loop* loop, char* line) {
    char* save = NULL;
    char* verb = strtok_r(line, " ", &save);
    if (!verb) {
        return;
    }
    if (strcmp(verb, "stop") == 0) {
        stop_all(loop);
        return;
    }
    char* peer = strtok_r(NULL, " ", &save);
    char* actor = strtok_r(NULL, " ", &save);
    char* text = strtok_r(NULL, "", &save);
    if (!peer || !actor || !node) {
        say("ERROR %s", verb);
        return;
    }
    jzx_actor_id proxy = 0;
    jzx_err err = jzx_node_lookup(node, peer, actor, 5000, &proxy);
    if (strcmp(verb, "lookup") == 0) {
        say("LOOKUP %d", err);
    } else if (strcmp(verb, "send") == 0) {
        size_t n = text ? strlen(text) : 0;
        void* c = copy(loop, text, n);
        if (err == JZX_OK) {
            err = jzx_send_as(loop, echo_id, proxy, c, n, T_HELLO);
        }
        if (err != JZX_OK) {
            jzx_loop_free(loop, c);
        }
        say("SENT %d", err);
    } else {
        say("ERROR %s", verb);
    }
}

static char in_buf[4096];
static size_t in_have;

static jzx_behavior_result control(jzx_context* ctx, const jzx_message* msg) {
    if (msg->tag != JZX_TAG_SYS_IO) {
        if (msg->tag < JZX_TAG_SYS_MIN) {
            jzx_loop_free(ctx->loop, msg->data);
        }
        return JZX_BEHAVIOR_OK;
    }
    jzx_loop_free(ctx->loop, msg->data);
    for (;;) {
        ssize_t r = read(0, in_buf + in_have, sizeof(in_buf) - 1 - in_have);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
            stop_all(ctx->loop); /* end of input */
            return JZX_BEHAVIOR_STOP;
        }
        if (r < 0) {
            break;
        }
        in_have += (size_t)r;
        char* nl;
        while ((nl = memchr(in_buf, '\n', in_have)) != NULL) {
            *nl = '\0';
            size_t used = (size_t)(nl - in_buf) + 1;
            command(ctx->loop, in_buf);
            if (!node) {
                return JZX_BEHAVIOR_STOP;
            }
            memmove(in_buf, in_buf + used, in_have - used);
            in_have -= used;
        }
        if (in_have == sizeof(in_buf) - 1) {
            in_have = 0; /* a line too long: dropped */
        }
    }
    return JZX_BEHAVIOR_OK;
}

static jzx_actor_id spawn_named(jzx_loop* loop, jzx_behavior_fn fn, const char* name) {
    jzx_spawn_opts o = {.behavior = fn};
    jzx_actor_id id = 0;
    if (jzx_spawn(loop, &o, &id) != JZX_OK || (name && jzx_register(loop, name, id) != JZX_OK)) {
        say("ERROR spawn %s", name ? name : "-");
        exit(3);
    }
    return id;
}

int main(int argc, char** argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s URL CLUSTER NAME HEARTBEAT_MS DOWN_AFTER_MS\n", argv[0]);
        return 2;
    }
    jzx_config cfg;
    jzx_config_init(&cfg);
    cfg.on_drop = on_drop;
    jzx_loop* loop = jzx_loop_create(&cfg);
    if (!loop) {
        return 1;
    }
    the_loop = loop;
    jzx_node_opts o = {.url = argv[1],
                       .cluster = argv[2],
                       .name = argv[3],
                       .heartbeat_ms = (uint32_t)strtoul(argv[4], NULL, 10),
                       .down_after_ms = (uint32_t)strtoul(argv[5], NULL, 10)};
    jzx_err err = jzx_node_start(loop, &o, &node);
    say("START %d", err);
    if (err != JZX_OK) {
        jzx_loop_destroy(loop);
        return 1;
    }
    echo_id = spawn_named(loop, echo, "echo");
    spawn_named(loop, crash, "crash");
    spawn_named(loop, quit, "quit");
    jzx_actor_id ctl = spawn_named(loop, control, NULL);
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    if (jzx_watch_fd(loop, 0, ctl, JZX_IO_READ) != JZX_OK) {
        say("ERROR watch");
        return 1;
    }
    say("READY");
    jzx_loop_run(loop);
    jzx_node_stop(node); /* if the loop ended some other way */
    jzx_loop_destroy(loop);
    say("BYE");
    return 0;
}
