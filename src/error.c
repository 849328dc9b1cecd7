/* Error names and the library version: the two things any thread may ask
 * without a loop. See docs/errors.md.
 */
#include "jzx_internal.h"

const char* jzx_strerror(int err) {
    switch (err) {
    case JZX_OK:
        return "success";
    case JZX_ERR_UNKNOWN:
        return "internal error";
    case JZX_ERR_NO_MEMORY:
        return "out of memory";
    case JZX_ERR_INVALID_ARG:
        return "invalid argument";
    case JZX_ERR_LOOP_CLOSED:
        return "loop is running or being destroyed";
    case JZX_ERR_NO_SUCH_ACTOR:
        return "no such actor";
    case JZX_ERR_MAILBOX_FULL:
        return "mailbox full";
    case JZX_ERR_TIMER_INVALID:
        return "no such timer";
    case JZX_ERR_IO_REG_FAILED:
        return "fd cannot be watched";
    case JZX_ERR_IO_NOT_WATCHED:
        return "fd is not watched";
    case JZX_ERR_MAX_ACTORS:
        return "actor table full";
    case JZX_ERR_NAME_TAKEN:
        return "name already registered";
    case JZX_ERR_TIMEOUT:
        return "timed out";
    case JZX_ERR_NO_REQUEST:
        return "no such request";
    default:
        return "unknown error";
    }
}

uint32_t jzx_version(void) {
    return JZX_VERSION_HEX;
}

const char* jzx_version_string(void) {
    return JZX_VERSION_STRING;
}
