/* Compile-time guards on the public ABI: enum values, and the layout of every
 * public struct. A change that trips one of these breaks programs built
 * against an older jzx.h (or bindings that mirror its structs, like the
 * Python package); docs/abi.md says what may change and how.
 */
#include "jzx_internal.h"

#include <stddef.h>

#define ABI_ENUM(name, value) _Static_assert((name) == (value), #name " is part of the ABI")

ABI_ENUM(JZX_OK, 0);
ABI_ENUM(JZX_ERR_UNKNOWN, -1);
ABI_ENUM(JZX_ERR_NO_MEMORY, -2);
ABI_ENUM(JZX_ERR_INVALID_ARG, -3);
ABI_ENUM(JZX_ERR_LOOP_CLOSED, -4);
ABI_ENUM(JZX_ERR_NO_SUCH_ACTOR, -5);
ABI_ENUM(JZX_ERR_MAILBOX_FULL, -7);
ABI_ENUM(JZX_ERR_TIMER_INVALID, -8);
ABI_ENUM(JZX_ERR_IO_REG_FAILED, -9);
ABI_ENUM(JZX_ERR_IO_NOT_WATCHED, -10);
ABI_ENUM(JZX_ERR_MAX_ACTORS, -11);
ABI_ENUM(JZX_ERR_NAME_TAKEN, -12);
ABI_ENUM(JZX_ERR_TIMEOUT, -13);
ABI_ENUM(JZX_ERR_NO_REQUEST, -14);

ABI_ENUM(JZX_DROP_NO_ACTOR, 1);
ABI_ENUM(JZX_DROP_MAILBOX_FULL, 2);
ABI_ENUM(JZX_DROP_ACTOR_ENDED, 3);
ABI_ENUM(JZX_DROP_LOOP_DESTROYED, 4);
ABI_ENUM(JZX_DROP_NOT_HANDLED, 5);
ABI_ENUM(JZX_DROP_SENT_REMOTE, 6);
ABI_ENUM(JZX_DROP_LATE_REPLY, 7);
ABI_ENUM(JZX_DROP_UNREACHABLE, 8);

ABI_ENUM(JZX_BEHAVIOR_OK, 0);
ABI_ENUM(JZX_BEHAVIOR_STOP, 1);
ABI_ENUM(JZX_BEHAVIOR_FAIL, 2);

ABI_ENUM(JZX_ACTOR_INIT, 0);
ABI_ENUM(JZX_ACTOR_RUNNING, 1);
ABI_ENUM(JZX_ACTOR_STOPPING, 2);
ABI_ENUM(JZX_ACTOR_STOPPED, 3);
ABI_ENUM(JZX_ACTOR_FAILED, 4);

ABI_ENUM(JZX_EXIT_NORMAL, 0);
ABI_ENUM(JZX_EXIT_FAIL, 1);
ABI_ENUM(JZX_EXIT_SHUTDOWN, 2);
ABI_ENUM(JZX_EXIT_NOPROC, 3);
ABI_ENUM(JZX_EXIT_NOCONNECTION, 4);

ABI_ENUM(JZX_CHILD_PERMANENT, 0);
ABI_ENUM(JZX_CHILD_TRANSIENT, 1);
ABI_ENUM(JZX_CHILD_TEMPORARY, 2);

ABI_ENUM(JZX_SUP_ONE_FOR_ONE, 0);
ABI_ENUM(JZX_SUP_ONE_FOR_ALL, 1);
ABI_ENUM(JZX_SUP_REST_FOR_ONE, 2);

ABI_ENUM(JZX_BACKOFF_NONE, 0);
ABI_ENUM(JZX_BACKOFF_CONSTANT, 1);
ABI_ENUM(JZX_BACKOFF_EXPONENTIAL, 2);

ABI_ENUM(JZX_TAG_SYS_MIN, 0xFFFF0000u);
ABI_ENUM(JZX_TAG_SYS_IO, 0xFFFF0001u);
ABI_ENUM(JZX_TAG_SYS_CHILD_EXIT, 0xFFFF0002u);
ABI_ENUM(JZX_TAG_SYS_CHILD_RESTART, 0xFFFF0003u);
ABI_ENUM(JZX_TAG_SYS_DOWN, 0xFFFF0004u);
ABI_ENUM(JZX_TAG_SYS_EXIT, 0xFFFF0005u);
ABI_ENUM(JZX_TAG_SYS_SHUTDOWN, 0xFFFF0006u);
ABI_ENUM(JZX_TAG_SYS_NO_REPLY, 0xFFFF0007u);
ABI_ENUM(JZX_TAG_SYS_SPAWNED, 0xFFFF0008u);
ABI_ENUM(JZX_IO_READ, 0x1u);
ABI_ENUM(JZX_IO_WRITE, 0x2u);
ABI_ENUM(JZX_IO_ERROR, 0x4u);

/* Enums travel inside structs, so their size is part of the layout too. */
_Static_assert(sizeof(jzx_err) == sizeof(int), "enums are int-sized");
_Static_assert(sizeof(jzx_child_mode) == sizeof(int), "enums are int-sized");

/* Struct layouts are pinned for LP64 targets (x86-64, arm64, ppc64el,
 * riscv64, s390x), where they are identical: each struct's size and the
 * offset of every field. Other targets have their own layout, recorded by
 * their own ABI baseline. */
#if UINTPTR_MAX == UINT64_MAX && SIZE_MAX == UINT64_MAX
#define ABI_SIZE(type, size) _Static_assert(sizeof(type) == (size), "size of " #type)
#define ABI_FIELD(type, field, off) \
    _Static_assert(offsetof(type, field) == (off), "offset of " #type "." #field)

ABI_SIZE(jzx_allocator, 24);
ABI_FIELD(jzx_allocator, alloc, 0);
ABI_FIELD(jzx_allocator, free, 8);
ABI_FIELD(jzx_allocator, ctx, 16);

ABI_SIZE(jzx_message, 48);
ABI_FIELD(jzx_message, data, 0);
ABI_FIELD(jzx_message, len, 8);
ABI_FIELD(jzx_message, tag, 16);
ABI_FIELD(jzx_message, sender, 24);
ABI_FIELD(jzx_message, request, 32);
ABI_FIELD(jzx_message, in_reply_to, 40);

ABI_SIZE(jzx_config, 80);
ABI_FIELD(jzx_config, allocator, 0);
ABI_FIELD(jzx_config, max_actors, 24);
ABI_FIELD(jzx_config, default_mailbox_cap, 28);
ABI_FIELD(jzx_config, max_msgs_per_actor, 32);
ABI_FIELD(jzx_config, max_actors_per_tick, 36);
ABI_FIELD(jzx_config, max_io_watchers, 40);
ABI_FIELD(jzx_config, io_poll_timeout_ms, 44);
ABI_FIELD(jzx_config, on_drop, 48);
ABI_FIELD(jzx_config, drop_ctx, 56);
ABI_FIELD(jzx_config, clock, 64);
ABI_FIELD(jzx_config, clock_ctx, 72);

ABI_SIZE(jzx_context, 24);
ABI_FIELD(jzx_context, state, 0);
ABI_FIELD(jzx_context, self, 8);
ABI_FIELD(jzx_context, loop, 16);

ABI_SIZE(jzx_spawn_opts, 72);
ABI_FIELD(jzx_spawn_opts, behavior, 0);
ABI_FIELD(jzx_spawn_opts, state, 8);
ABI_FIELD(jzx_spawn_opts, supervisor, 16);
ABI_FIELD(jzx_spawn_opts, mailbox_cap, 24);
ABI_FIELD(jzx_spawn_opts, name, 32);
ABI_FIELD(jzx_spawn_opts, init, 40);
ABI_FIELD(jzx_spawn_opts, init_arg, 48);
ABI_FIELD(jzx_spawn_opts, terminate, 56);
ABI_FIELD(jzx_spawn_opts, shutdown_ms, 64);

ABI_SIZE(jzx_child_spec, 96);
ABI_FIELD(jzx_child_spec, behavior, 0);
ABI_FIELD(jzx_child_spec, state, 8);
ABI_FIELD(jzx_child_spec, mode, 16);
ABI_FIELD(jzx_child_spec, mailbox_cap, 20);
ABI_FIELD(jzx_child_spec, restart_delay_ms, 24);
ABI_FIELD(jzx_child_spec, backoff, 28);
ABI_FIELD(jzx_child_spec, name, 32);
ABI_FIELD(jzx_child_spec, supervisor, 40);
ABI_FIELD(jzx_child_spec, init, 48);
ABI_FIELD(jzx_child_spec, init_arg, 56);
ABI_FIELD(jzx_child_spec, terminate, 64);
ABI_FIELD(jzx_child_spec, shutdown_ms, 72);
ABI_FIELD(jzx_child_spec, register_as, 80);
ABI_FIELD(jzx_child_spec, loop, 88);

ABI_SIZE(jzx_supervisor_spec, 24);
ABI_FIELD(jzx_supervisor_spec, strategy, 0);
ABI_FIELD(jzx_supervisor_spec, intensity, 4);
ABI_FIELD(jzx_supervisor_spec, period_ms, 8);
ABI_FIELD(jzx_supervisor_spec, backoff, 12);
ABI_FIELD(jzx_supervisor_spec, backoff_delay_ms, 16);
ABI_FIELD(jzx_supervisor_spec, backoff_reset_ms, 20);

ABI_SIZE(jzx_supervisor_init, 40);
ABI_FIELD(jzx_supervisor_init, children, 0);
ABI_FIELD(jzx_supervisor_init, child_count, 8);
ABI_FIELD(jzx_supervisor_init, supervisor, 16);

ABI_SIZE(jzx_io_event, 8);
ABI_FIELD(jzx_io_event, fd, 0);
ABI_FIELD(jzx_io_event, readiness, 4);

ABI_SIZE(jzx_child_exit, 16);
ABI_FIELD(jzx_child_exit, child, 0);
ABI_FIELD(jzx_child_exit, status, 8);

ABI_SIZE(jzx_child_restart, 4);
ABI_FIELD(jzx_child_restart, child_index, 0);

ABI_SIZE(jzx_down, 24);
ABI_FIELD(jzx_down, ref, 0);
ABI_FIELD(jzx_down, actor, 8);
ABI_FIELD(jzx_down, reason, 16);

ABI_SIZE(jzx_exit_signal, 16);
ABI_FIELD(jzx_exit_signal, from, 0);
ABI_FIELD(jzx_exit_signal, reason, 8);

ABI_SIZE(jzx_no_reply, 16);
ABI_FIELD(jzx_no_reply, request, 0);
ABI_FIELD(jzx_no_reply, reason, 8);

ABI_SIZE(jzx_spawned, 24);
ABI_FIELD(jzx_spawned, ticket, 0);
ABI_FIELD(jzx_spawned, id, 8);
ABI_FIELD(jzx_spawned, err, 16);

ABI_SIZE(jzx_actor_info, 56);
ABI_FIELD(jzx_actor_info, id, 0);
ABI_FIELD(jzx_actor_info, supervisor, 8);
ABI_FIELD(jzx_actor_info, name, 16);
ABI_FIELD(jzx_actor_info, mailbox_len, 24);
ABI_FIELD(jzx_actor_info, mailbox_cap, 28);
ABI_FIELD(jzx_actor_info, messages_handled, 32);
ABI_FIELD(jzx_actor_info, monitors, 40);
ABI_FIELD(jzx_actor_info, links, 44);
ABI_FIELD(jzx_actor_info, is_supervisor, 48);
ABI_FIELD(jzx_actor_info, traps_exits, 52);

ABI_SIZE(jzx_observer, 40);
ABI_FIELD(jzx_observer, on_actor_start, 0);
ABI_FIELD(jzx_observer, on_actor_stop, 8);
ABI_FIELD(jzx_observer, on_actor_restart, 16);
ABI_FIELD(jzx_observer, on_supervisor_escalate, 24);
ABI_FIELD(jzx_observer, on_mailbox_full, 32);

ABI_SIZE(jzx_stats, 64);
ABI_FIELD(jzx_stats, live_actors, 0);
ABI_FIELD(jzx_stats, messages_delivered, 8);
ABI_FIELD(jzx_stats, mailbox_full, 16);
ABI_FIELD(jzx_stats, restarts, 24);
ABI_FIELD(jzx_stats, pending_timers, 32);
ABI_FIELD(jzx_stats, watched_fds, 40);
ABI_FIELD(jzx_stats, messages_dropped, 48);
ABI_FIELD(jzx_stats, pending_async, 56);
#endif
