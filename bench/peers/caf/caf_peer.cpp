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
#include <vector>

using namespace caf;

namespace {

using b_done = atom_constant<atom("b_done")>;
using b_ack = atom_constant<atom("b_ack")>;
using b_go = atom_constant<atom("b_go")>;
using b_tick = atom_constant<atom("b_tick")>;
using b_flush = atom_constant<atom("b_flush")>;
using b_next = atom_constant<atom("b_next")>;

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
    // Other workloads (limit, scale) are not peer workloads: print nothing.
    return 0;
}
