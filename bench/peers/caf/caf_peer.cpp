// CAF 0.17 peer for the libjzx benchmark suite (see bench/peers/README.md).
// Usage: caf_peer <workload> <impl-name> <scale> <threads>   (threads 0 = CAF
// default scheduler). Prints "BENCH <workload> <impl> <metric> <value>" lines;
// exits non-zero when a workload does not compute what it should.

#include <caf/all.hpp>
#include <caf/detail/simple_actor_clock.hpp>
#include <caf/io/all.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <random>
#include <string>
#include <thread>
#include <unistd.h>
#include <unordered_set>
#include <vector>

using namespace caf;

namespace {

using b_done = atom_constant<atom("b_done")>;
using b_ack = atom_constant<atom("b_ack")>;
using b_go = atom_constant<atom("b_go")>;
using b_tick = atom_constant<atom("b_tick")>;
using b_flush = atom_constant<atom("b_flush")>;
using b_next = atom_constant<atom("b_next")>;
using b_stop = atom_constant<atom("b_stop")>;
using b_ready = atom_constant<atom("b_ready")>;
using b_link = atom_constant<atom("b_link")>;
using b_crash = atom_constant<atom("b_crash")>;
using b_ping = atom_constant<atom("b_ping")>;
using b_pong = atom_constant<atom("b_pong")>;
using b_count = atom_constant<atom("b_count")>;

using clk = std::chrono::steady_clock;

const char* g_workload = "";
const char* g_impl = "";

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(clk::now().time_since_epoch())
        .count();
}

void emit(const char* metric, double value) {
    std::printf("BENCH %s %s %s %.2f\n", g_workload, g_impl, metric, value);
    std::fflush(stdout);
}

// Exits at once: the actor system may still hold actors that would make
// its destructor wait forever.
[[noreturn]] void fail(const std::string& why) {
    std::fprintf(stderr, "caf_peer %s %s: %s\n", g_workload, g_impl, why.c_str());
    std::fflush(stderr);
    std::_Exit(1);
}

void check(bool ok, const std::string& why) {
    if (!ok)
        fail(why);
}

uint64_t scaled(double full, double scale) {
    auto n = static_cast<uint64_t>(full * scale + 0.5);
    return n < 1 ? 1 : n;
}

// A run that hangs is a wrong run: a lost message leaves a count short.
void start_watchdog(int seconds) {
    std::thread([seconds] {
        std::this_thread::sleep_for(std::chrono::seconds(seconds));
        fail("watchdog: no result after " + std::to_string(seconds) + " s");
    }).detach();
}

// xorshift32 (13, 17, 5): the fixed-seed sequence every impl uses for
// whereis and big (see bench/peers/README.md).
uint32_t xorshift32(uint32_t& x) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
}

// Resident set size from /proc/self/statm (pages) in bytes.
int64_t rss_bytes() {
    std::ifstream f("/proc/self/statm");
    int64_t size = 0, resident = 0;
    f >> size >> resident;
    return resident * sysconf(_SC_PAGESIZE);
}

// -- pingpong: one message in flight between two actors ---------------------

behavior pong_actor(event_based_actor* self, actor ping) {
    return {[=](uint64_t k) { self->send(ping, k); }};
}

behavior ping_actor(event_based_actor* self, uint64_t n, actor main) {
    auto pong = self->spawn(pong_actor, actor_cast<actor>(self));
    auto expected = std::make_shared<uint64_t>(1);
    self->send(pong, uint64_t{1});
    return {[=](uint64_t k) {
        check(k == *expected, "pingpong: reply out of order");
        if (k == n) {
            self->send(main, b_done::value, k);
            self->send_exit(pong, exit_reason::user_shutdown);
            self->quit();
            return;
        }
        *expected = k + 1;
        self->send(pong, k + 1);
    }};
}

void run_pingpong(actor_system& sys, double scale) {
    const uint64_t n = scaled(1e6, scale);
    scoped_actor main{sys};
    auto t0 = now_ns();
    sys.spawn(ping_actor, n, actor_cast<actor>(main));
    uint64_t got = 0;
    main->receive([&](b_done, uint64_t k) { got = k; });
    auto t1 = now_ns();
    check(got == n, "pingpong: wrong round trip count");
    emit("ns_per_rt", double(t1 - t0) / double(n));
}

// -- flood: two bursts of B in flight, the receiver acks each full burst -----

// The same workload as bench/jzx_bench.c: B = 512 and two bursts in flight
// fill libjzx's default mailbox cap (1024) exactly, so the jzx side never has
// a send refused and its receiver never waits; every impl uses the same B and
// window. An ack asks for one more burst, so the receiver acks a full burst
// only while messages remain unsent; the sender ends after its last burst.
constexpr uint64_t flood_burst = 512;
constexpr uint64_t flood_window = 2;

behavior flood_receiver(event_based_actor* self, actor sender, uint64_t n, actor main) {
    auto count = std::make_shared<uint64_t>(0);
    return {[=](uint64_t v) {
        auto c = ++*count;
        check(v == c, "flood: message out of order");
        if (c % flood_burst == 0 && c + flood_burst < n)
            self->send(sender, b_ack::value);
        if (c == n) {
            self->send(main, b_done::value, c);
            self->quit();
        }
    }};
}

behavior flood_sender(event_based_actor* self, uint64_t n, actor main) {
    auto recv = self->spawn(flood_receiver, actor_cast<actor>(self), n, main);
    auto sent = std::make_shared<uint64_t>(0);
    auto burst = [=] {
        auto end = std::min(n, *sent + flood_burst);
        for (auto i = *sent + 1; i <= end; ++i)
            self->send(recv, i);
        *sent = end;
        if (end == n)
            self->quit();
    };
    for (uint64_t b = 0; b < flood_window && *sent < n; ++b)
        burst();
    return {[=](b_ack) { burst(); }};
}

void run_flood(actor_system& sys, double scale) {
    const uint64_t n = scaled(1e7, scale);
    scoped_actor main{sys};
    auto t0 = now_ns();
    sys.spawn(flood_sender, n, actor_cast<actor>(main));
    uint64_t got = 0;
    main->receive([&](b_done, uint64_t c) { got = c; });
    auto t1 = now_ns();
    check(got == n, "flood: wrong message count");
    emit("msgs_per_s", double(n) * 1e9 / double(t1 - t0));
}

// -- threadring: 1000 actors, one token, N hops ------------------------------

struct ring_state {
    actor next;
};

behavior ring_member(stateful_actor<ring_state>* self, uint64_t idx, actor main) {
    return {
        [=](b_next, actor next) { self->state.next = std::move(next); },
        [=](uint64_t token) {
            if (token == 0)
                self->send(main, b_done::value, idx);
            else
                self->send(self->state.next, token - 1);
        },
    };
}

void run_threadring(actor_system& sys, double scale) {
    const uint64_t members = 1000;
    const uint64_t hops = scaled(1e7, scale);
    scoped_actor main{sys};
    std::vector<actor> ring;
    for (uint64_t i = 0; i < members; ++i)
        ring.push_back(sys.spawn(ring_member, i, actor_cast<actor>(main)));
    // Each member's next is in its mailbox before the token can reach it.
    for (uint64_t i = 0; i < members; ++i)
        anon_send(ring[i], b_next::value, ring[(i + 1) % members]);
    auto t0 = now_ns();
    anon_send(ring[0], hops);
    uint64_t last = members;
    main->receive([&](b_done, uint64_t idx) { last = idx; });
    auto t1 = now_ns();
    check(last == hops % members, "threadring: token stopped at the wrong actor");
    for (auto& a : ring)
        anon_send_exit(a, exit_reason::user_shutdown);
    emit("ns_per_hop", double(t1 - t0) / double(hops));
}

// -- spawn: N idle actors, then stop them ------------------------------------

std::atomic<uint64_t> g_inits{0};

behavior idle_actor(event_based_actor*) {
    g_inits.fetch_add(1, std::memory_order_relaxed);
    // An actor with an empty behavior terminates; this one waits forever.
    return {[](uint64_t) {}};
}

void run_spawn(actor_system& sys, double scale) {
    const uint64_t n = scaled(1e6, scale);
    std::vector<actor> actors;
    actors.reserve(n);
    auto rss0 = rss_bytes();
    auto t0 = now_ns();
    for (uint64_t i = 0; i < n; ++i)
        actors.push_back(sys.spawn(idle_actor));
    // Spawned actors initialise on the scheduler; count them ready.
    while (g_inits.load(std::memory_order_acquire) < n)
        std::this_thread::yield();
    auto t1 = now_ns();
    auto rss1 = rss_bytes();
    for (auto& a : actors)
        anon_send_exit(a, exit_reason::user_shutdown);
    actors.clear();
    sys.await_all_actors_done();
    auto t2 = now_ns();
    emit("ns_per_spawn", double(t1 - t0) / double(n));
    emit("ns_per_teardown", double(t2 - t1) / double(n));
    emit("bytes_per_actor", double(rss1 - rss0) / double(n));
}

// -- async: plain OS threads send to one actor --------------------------------

behavior async_receiver(event_based_actor* self, uint64_t n, uint64_t want_sum,
                        std::promise<uint64_t>* done) {
    auto count = std::make_shared<uint64_t>(0);
    auto sum = std::make_shared<uint64_t>(0);
    return {[=](uint64_t v) {
        *sum += v;
        if (++*count == n) {
            check(*sum == want_sum, "async: wrong message sum");
            done->set_value(*count);
            self->quit();
        }
    }};
}

double async_rate(actor_system& sys, uint64_t n, unsigned producers) {
    const uint64_t per = n / producers;
    const uint64_t total = per * producers;
    const uint64_t want_sum = producers * (per * (per + 1) / 2);
    std::promise<uint64_t> done;
    auto fut = done.get_future();
    auto recv = sys.spawn(async_receiver, total, want_sum, &done);
    auto t0 = now_ns();
    std::vector<std::thread> threads;
    for (unsigned p = 0; p < producers; ++p)
        threads.emplace_back([recv, per] {
            for (uint64_t i = 1; i <= per; ++i)
                anon_send(recv, i);
        });
    auto got = fut.get();
    auto t1 = now_ns();
    for (auto& t : threads)
        t.join();
    check(got == total, "async: wrong message count");
    return double(total) * 1e9 / double(t1 - t0);
}

void run_async(actor_system& sys, double scale) {
    const uint64_t n = scaled(1e7, scale);
    emit("msgs_per_s_1p", async_rate(sys, n, 1));
    emit("msgs_per_s_2p", async_rate(sys, n, 2));
}

// -- timers: N one-shot timers in [0, 1000] ms; N schedule+cancel -------------

behavior timer_actor(event_based_actor* self, uint64_t n, int64_t t0, actor main) {
    std::mt19937_64 rng(12345);
    std::uniform_int_distribution<int> delay(0, 1000);
    for (uint64_t i = 0; i < n; ++i)
        self->delayed_send(self, std::chrono::milliseconds(delay(rng)), b_tick::value);
    auto count = std::make_shared<uint64_t>(0);
    return {[=](b_tick) {
        if (++*count == n) {
            self->send(main, b_done::value, uint64_t(now_ns() - t0));
            self->quit();
        }
    }};
}

// Request timeouts are CAF 0.17's cancellable timers (request() arms and
// cancels them); the clock thread applies both through its queue, so a
// zero-delay message sent after them marks when they have all been applied.
behavior cancel_actor(event_based_actor* self, uint64_t n, actor main) {
    auto& clock = self->system().clock();
    auto ids = std::make_shared<std::vector<message_id>>();
    auto phase = std::make_shared<int>(0);
    auto t0 = std::make_shared<int64_t>(0);
    std::mt19937_64 rng(54321);
    std::uniform_int_distribution<int> delay(0, 1000);
    // Far enough out that none expires before it is cancelled.
    auto base = clock.now() + std::chrono::seconds(3600);
    for (uint64_t i = 0; i < n; ++i) {
        auto id = self->new_request_id(message_priority::normal);
        clock.set_request_timeout(base + std::chrono::milliseconds(delay(rng)), self, id);
        ids->push_back(id);
    }
    self->delayed_send(self, std::chrono::milliseconds(0), b_flush::value);
    return {[=, &clock](b_flush) {
        if (*phase == 0) {
            *phase = 1;
            *t0 = now_ns();
            for (auto id : *ids)
                clock.cancel_request_timeout(self, id);
            self->delayed_send(self, std::chrono::milliseconds(0), b_flush::value);
            return;
        }
        auto elapsed = uint64_t(now_ns() - *t0);
        // The clock thread is idle now (nothing is due for an hour).
        auto& sc = dynamic_cast<detail::simple_actor_clock&>(clock);
        check(sc.actor_lookup().count(self->id()) == 0,
              "timers: a cancelled request timeout is still armed");
        self->send(main, b_done::value, elapsed);
        self->quit();
    }};
}

void run_timers(actor_system& sys, double scale) {
    const uint64_t n = scaled(1e6, scale);
    scoped_actor main{sys};
    auto t0 = now_ns();
    sys.spawn(timer_actor, n, t0, actor_cast<actor>(main));
    uint64_t total_ns = 0;
    main->receive([&](b_done, uint64_t ns) { total_ns = ns; });
    uint64_t cancel_ns = 0;
    sys.spawn(cancel_actor, n, actor_cast<actor>(main));
    main->receive([&](b_done, uint64_t ns) { cancel_ns = ns; });
    emit("total_ms", double(total_ns) / 1e6);
    emit("overrun_ms", double(total_ns) / 1e6 - 1000.0);
    emit("ns_per_cancel", double(cancel_ns) / double(n));
}

// -- io: echo over loopback TCP, one broker per connection on each side -----

constexpr size_t io_msg = 64;
constexpr uint64_t io_conns = 1000;

behavior echo_conn(io::broker* self, io::connection_handle hdl) {
    self->configure_read(hdl, io::receive_policy::exactly(io_msg));
    return {
        [=](const io::new_data_msg& msg) {
            self->write(msg.handle, msg.buf.size(), msg.buf.data());
            self->flush(msg.handle);
        },
        [=](const io::connection_closed_msg&) { self->quit(); },
    };
}

behavior echo_server(io::broker* self) {
    return {
        [=](const io::new_connection_msg& msg) { self->fork(echo_conn, msg.handle); },
    };
}

behavior echo_client(io::broker* self, io::connection_handle hdl, uint64_t rounds, uint64_t seed,
                     actor main) {
    auto payload = std::make_shared<std::vector<char>>(io_msg);
    for (size_t i = 0; i < io_msg; ++i)
        (*payload)[i] = char('a' + (seed + i) % 26);
    auto count = std::make_shared<uint64_t>(0);
    self->configure_read(hdl, io::receive_policy::exactly(io_msg));
    auto send = [=] {
        self->write(hdl, payload->size(), payload->data());
        self->flush(hdl);
    };
    return {
        [=](b_go) { send(); },
        [=](const io::new_data_msg& msg) {
            check(msg.buf == *payload, "io: echo differs from what was sent");
            if (++*count == rounds) {
                self->send(main, b_done::value, *count);
                self->close(hdl);
                self->quit();
                return;
            }
            send();
        },
        [=](const io::connection_closed_msg&) { fail("io: connection closed early"); },
    };
}

void run_io(actor_system& sys, double scale) {
    // 100 round trips per connection at scale 1 (see bench/peers/README.md).
    const uint64_t rounds = scaled(100, scale);
    auto& mm = sys.middleman();
    uint16_t port = 0;
    auto server = mm.spawn_server(echo_server, port);
    if (!server)
        fail("io: cannot listen: " + sys.render(server.error()));
    scoped_actor main{sys};
    std::vector<actor> clients;
    for (uint64_t i = 0; i < io_conns; ++i) {
        auto c =
            mm.spawn_client(echo_client, "127.0.0.1", port, rounds, i, actor_cast<actor>(main));
        if (!c)
            fail("io: cannot connect: " + sys.render(c.error()));
        clients.push_back(*c);
    }
    auto t0 = now_ns();
    for (auto& c : clients)
        anon_send(c, b_go::value);
    uint64_t total = 0;
    for (uint64_t i = 0; i < io_conns; ++i)
        main->receive([&](b_done, uint64_t k) { total += k; });
    auto t1 = now_ns();
    check(total == rounds * io_conns, "io: wrong round trip count");
    anon_send_exit(*server, exit_reason::user_shutdown);
    emit("rt_per_s", double(total) * 1e9 / double(t1 - t0));
}

// -- restart: a permanent child failing N times under one_for_one ------------

// CAF 0.17 has no supervisors: this is the minimal equivalent of Erlang's
// one_for_one with one permanent child: the supervisor links to the child,
// traps exits and spawns a new child whenever the current one exits.
std::vector<int64_t> g_starts;

behavior restart_child(event_based_actor* self, uint64_t idx, uint64_t n, actor main) {
    g_starts[idx] = now_ns();
    if (idx < n) {
        self->quit(make_error(sec::runtime_error));
        return {};
    }
    self->send(main, b_done::value, idx);
    return {[](uint64_t) {}};
}

struct sup_state {
    uint64_t started = 0;
    actor child; // strong: an unreferenced CAF actor exits as unreachable
};

behavior supervisor(stateful_actor<sup_state>* self, uint64_t n, actor main) {
    auto start = [=] {
        self->state.child = self->spawn<linked>(restart_child, self->state.started++, n, main);
    };
    self->set_exit_handler([=](exit_msg& em) {
        if (em.source == self->state.child.address())
            start();
        else
            self->quit(em.reason); // shutdown: the link takes the child down too
    });
    start();
    return {[](uint64_t) {}};
}

void run_restart(actor_system& sys, double scale) {
    const uint64_t n = scaled(1e5, scale);
    g_starts.assign(n + 1, 0);
    scoped_actor main{sys};
    auto sup = sys.spawn(supervisor, n, actor_cast<actor>(main));
    uint64_t last = 0;
    main->receive([&](b_done, uint64_t idx) { last = idx; });
    check(last == n, "restart: wrong number of restarts");
    anon_send_exit(sup, exit_reason::user_shutdown);
    // One sample per restart: from a child's start to its successor's start.
    std::vector<int64_t> d(n);
    for (uint64_t i = 0; i < n; ++i) {
        d[i] = g_starts[i + 1] - g_starts[i];
        check(g_starts[i] != 0 && d[i] > 0, "restart: a child did not start");
    }
    double mean = double(g_starts[n] - g_starts[0]) / double(n);
    std::sort(d.begin(), d.end());
    auto p99 = d[(n * 99 + 99) / 100 - 1];
    emit("ns_per_restart_mean", mean);
    emit("ns_per_restart_p99", double(p99));
}

// -- monitor: N DOWN messages, batches of 1000 idle targets ------------------

// Spawning a batch is not timed: each target says it is ready, and the clock
// runs from monitoring the batch until its last DOWN message.
constexpr uint64_t monitor_batch = 1000;

behavior stop_target(event_based_actor* self, actor watcher) {
    self->send(watcher, b_ready::value);
    return {[=](b_stop) { self->quit(); }};
}

struct watcher_state {
    uint64_t left = 0; // targets still to spawn
    uint64_t ready = 0;
    std::vector<actor> targets;
    std::unordered_set<actor_id> pending; // targets whose DOWN has not come
    int64_t t0 = 0;
    int64_t ns = 0;
};

behavior watcher(stateful_actor<watcher_state>* self, uint64_t n, actor main) {
    auto spawn_batch = [=] {
        auto& st = self->state;
        auto k = std::min(monitor_batch, st.left);
        st.left -= k;
        st.ready = 0;
        for (uint64_t i = 0; i < k; ++i)
            st.targets.push_back(self->spawn(stop_target, actor_cast<actor>(self)));
    };
    self->state.left = n;
    // Each target's DOWN must come once, with the normal exit reason.
    self->set_down_handler([=](down_msg& dm) {
        auto& st = self->state;
        check(!dm.reason, "monitor: a target did not exit normally");
        check(st.pending.erase(dm.source.id()) == 1,
              "monitor: a DOWN came twice or for a stranger");
        if (!st.pending.empty())
            return;
        st.ns += now_ns() - st.t0;
        st.targets.clear();
        if (st.left > 0) {
            spawn_batch();
            return;
        }
        self->send(main, b_done::value, uint64_t(st.ns));
        self->quit();
    });
    spawn_batch();
    return {[=](b_ready) {
        auto& st = self->state;
        if (++st.ready < st.targets.size())
            return;
        for (auto& t : st.targets)
            st.pending.insert(t.id());
        st.t0 = now_ns();
        for (auto& t : st.targets)
            self->monitor(t);
        for (auto& t : st.targets)
            self->send(t, b_stop::value);
    }};
}

void run_monitor(actor_system& sys, double scale) {
    const uint64_t n = scaled(1e6, scale);
    scoped_actor main{sys};
    // Strong: an unreferenced CAF actor exits as unreachable, and a monitor
    // does not count as a reference.
    auto w = sys.spawn(watcher, n, actor_cast<actor>(main));
    uint64_t ns = 0;
    main->receive([&](b_done, uint64_t x) { ns = x; });
    emit("ns_per_down", double(ns) / double(n));
}

// -- link_cascade: a1 fails, the exit runs down a chain of N linked actors ---

// None sets an exit handler: CAF's default one makes an actor quit with the
// reason of a linked actor's abnormal exit, which is the cascade. So aN dies
// of a1's reason only when every link passed it on, each actor dying after its
// predecessor, and then no actor may be left running.
behavior chain_member(event_based_actor* self, actor main) {
    return {
        [=](b_link, actor prev) {
            self->link_to(prev);
            self->send(main, b_ready::value);
        },
        [=](b_crash) { self->quit(make_error(sec::runtime_error)); },
    };
}

void run_link_cascade(actor_system& sys, double scale) {
    const uint64_t n = scaled(1e5, scale);
    int64_t ns = 0;
    { // main counts as a running actor: it is gone before the await below
        scoped_actor main{sys};
        std::vector<actor> chain;
        for (uint64_t i = 0; i < n; ++i)
            chain.push_back(sys.spawn(chain_member, actor_cast<actor>(main)));
        for (uint64_t i = 1; i < n; ++i)
            anon_send(chain[i], b_link::value, chain[i - 1]);
        for (uint64_t i = 1; i < n; ++i)
            main->receive([](b_ready) {});
        main->monitor(chain.back());
        auto t0 = now_ns();
        anon_send(chain.front(), b_crash::value);
        main->receive([&](down_msg& dm) {
            check(dm.source == chain.back().address(), "link_cascade: DOWN from a stranger");
            check(dm.reason == sec::runtime_error,
                  "link_cascade: the last actor died of something else");
        });
        ns = now_ns() - t0;
    }
    sys.await_all_actors_done();
    emit("ns_per_actor", double(ns) / double(n));
}

// -- request: N sequential request/response round trips ----------------------

behavior add_server(event_based_actor*) {
    return {[](uint64_t i) { return i + 1; }};
}

// The next request goes out only when the reply to this one has come.
void request_next(event_based_actor* self, actor server, uint64_t i, uint64_t n, actor main) {
    self->request(server, infinite, i).then([=](uint64_t r) {
        check(r == i + 1, "request: wrong reply");
        if (i < n) {
            request_next(self, server, i + 1, n, main);
            return;
        }
        self->send(main, b_done::value, i);
        self->send_exit(server, exit_reason::user_shutdown);
        self->quit();
    });
}

behavior request_client(event_based_actor* self, actor server, uint64_t n, actor main) {
    request_next(self, server, 1, n, main);
    return {}; // no handlers: an actor awaiting a response stays alive
}

void run_request(actor_system& sys, double scale) {
    const uint64_t n = scaled(1e6, scale);
    scoped_actor main{sys};
    auto server = sys.spawn(add_server);
    auto t0 = now_ns();
    sys.spawn(request_client, server, n, actor_cast<actor>(main));
    uint64_t got = 0;
    main->receive([&](b_done, uint64_t k) { got = k; });
    auto t1 = now_ns();
    check(got == n, "request: wrong round trip count");
    emit("ns_per_rt", double(t1 - t0) / double(n));
}

// -- whereis: N registry lookups of names picked by xorshift32 ---------------

// CAF 0.17's registry names actors by atom_value (at most 10 characters), so
// the names are "w0", "w1", ... made by atom_from_string before the clock
// starts, as is the lookup sequence.
constexpr uint32_t whereis_seed = 2463534242u;

void run_whereis(actor_system& sys, double scale) {
    const uint64_t names = scaled(1e5, scale);
    const uint64_t n = scaled(1e6, scale);
    auto& reg = sys.registry();
    std::vector<atom_value> keys;
    std::vector<actor> actors;
    for (uint64_t i = 0; i < names; ++i) {
        keys.push_back(atom_from_string("w" + std::to_string(i)));
        actors.push_back(sys.spawn(idle_actor));
        reg.put(keys.back(), actors.back());
    }
    std::vector<atom_value> seq;
    seq.reserve(n);
    uint32_t x = whereis_seed;
    for (uint64_t i = 0; i < n; ++i)
        seq.push_back(keys[xorshift32(x) % names]);
    auto t0 = now_ns();
    for (auto key : seq)
        check(reg.get(key) != nullptr, "whereis: a registered name was not found");
    auto t1 = now_ns();
    for (uint64_t i = 0; i < names; ++i) {
        reg.erase(keys[i]);
        anon_send_exit(actors[i], exit_reason::user_shutdown);
    }
    emit("ns_per_lookup", double(t1 - t0) / double(n));
}

// -- big: W workers each ping random others M times, one ping in flight ------

// Savina's "big". Worker i seeds xorshift32 with (i + 1) * 0x9E3779B9 and
// picks peer x % (W - 1), skipping itself. Every ping gets a pong; a worker
// that has its M pongs tells the sink (main) and keeps answering pings.
constexpr uint32_t big_workers = 2000;

// Filled before the start signal; the workers only read it.
std::vector<actor> g_big;

struct big_state {
    uint32_t x = 0;
    uint64_t sent = 0;
    uint64_t pongs = 0;
    uint64_t pings = 0; // answered
};

behavior big_worker(stateful_actor<big_state>* self, uint32_t idx, uint64_t m, actor sink) {
    self->state.x = (idx + 1) * 0x9E3779B9u;
    auto ping = [=] {
        auto t = xorshift32(self->state.x) % (big_workers - 1);
        self->send(g_big[t >= idx ? t + 1 : t], b_ping::value, idx);
        ++self->state.sent;
    };
    return {
        [=](b_ping, uint32_t from) {
            self->send(g_big[from], b_pong::value);
            ++self->state.pings;
        },
        [=](b_go) { ping(); },
        [=](b_pong) {
            auto& st = self->state;
            if (++st.pongs == m)
                self->send(sink, b_done::value, st.sent, st.pongs);
            else
                ping();
        },
        [=](b_count) { self->send(sink, b_count::value, self->state.pings); },
    };
}

void run_big(actor_system& sys, double scale) {
    const uint64_t m = scaled(5000, scale);
    const uint64_t want = big_workers * m;
    scoped_actor main{sys};
    for (uint32_t i = 0; i < big_workers; ++i)
        g_big.push_back(sys.spawn(big_worker, i, m, actor_cast<actor>(main)));
    auto t0 = now_ns();
    for (auto& w : g_big)
        anon_send(w, b_go::value);
    uint64_t sent = 0, pongs = 0;
    for (uint32_t i = 0; i < big_workers; ++i)
        main->receive([&](b_done, uint64_t s, uint64_t p) {
            sent += s;
            pongs += p;
        });
    auto t1 = now_ns();
    uint64_t pings = 0;
    for (auto& w : g_big)
        anon_send(w, b_count::value);
    for (uint32_t i = 0; i < big_workers; ++i)
        main->receive([&](b_count, uint64_t k) { pings += k; });
    check(sent == want && pongs == want && pings == want,
          "big: pings sent, pings answered and pongs differ from W * M");
    for (auto& w : g_big)
        anon_send_exit(w, exit_reason::user_shutdown);
    g_big.clear();
    emit("msgs_per_s", double(2 * want) * 1e9 / double(t1 - t0));
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: caf_peer <workload> <impl> <scale> <threads>\n");
        return 2;
    }
    g_workload = argv[1];
    g_impl = argv[2];
    const double scale = std::atof(argv[3]);
    const int threads = std::atoi(argv[4]);
    const std::string w = g_workload;
    if (scale <= 0) {
        std::fprintf(stderr, "caf_peer: bad scale %s\n", argv[3]);
        return 2;
    }
    actor_system_config cfg;
    if (threads > 0)
        cfg.set("scheduler.max-threads", threads);
    if (w == "io")
        cfg.load<io::middleman>();
    start_watchdog(600);
    actor_system sys{cfg};
    if (w == "pingpong")
        run_pingpong(sys, scale);
    else if (w == "flood")
        run_flood(sys, scale);
    else if (w == "threadring")
        run_threadring(sys, scale);
    else if (w == "spawn")
        run_spawn(sys, scale);
    else if (w == "async")
        run_async(sys, scale);
    else if (w == "timers")
        run_timers(sys, scale);
    else if (w == "io")
        run_io(sys, scale);
    else if (w == "restart")
        run_restart(sys, scale);
    else if (w == "monitor")
        run_monitor(sys, scale);
    else if (w == "link_cascade")
        run_link_cascade(sys, scale);
    else if (w == "request")
        run_request(sys, scale);
    else if (w == "whereis")
        run_whereis(sys, scale);
    else if (w == "big")
        run_big(sys, scale);
    // Other workloads (limit, scale) are not peer workloads: print nothing.
    return 0;
}
