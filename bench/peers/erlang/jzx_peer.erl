%% Erlang/OTP peer for the libjzx benchmark suite (see bench/peers/README.md).
%% Run: erl -noshell [+S 1] -pa OUT -run jzx_peer main <workload> <impl> <scale>
%% Prints "BENCH <workload> <impl> <metric> <value>" lines and halts with 0,
%% or with a non-zero status when a workload does not compute what it should.
%% Times are taken inside the VM, so VM start-up is not counted.
-module(jzx_peer).
-export([main/1, start_child/4]).

-define(FLOOD_BURST, 512).
-define(FLOOD_WINDOW, 2).
-define(IO_CONNS, 1000).
-define(IO_MSG, 64).
-define(MONITOR_BATCH, 1000).
-define(BIG_WORKERS, 2000).
-define(WHEREIS_SEED, 2463534242).

main([Workload, Impl, ScaleStr]) ->
    persistent_term:put({?MODULE, bench}, {Workload, Impl}),
    Scale = to_float(ScaleStr),
    Scale > 0 orelse fail("bad scale " ++ ScaleStr),
    %% A run that hangs is a wrong run: a lost message leaves a count short.
    spawn(fun() -> receive after 600000 -> fail_now(Workload, Impl, "watchdog") end end),
    run(Workload, Scale),
    halt(0);
main(_) ->
    io:format(standard_error, "usage: jzx_peer main <workload> <impl> <scale>~n", []),
    halt(2).

run("pingpong", S) -> pingpong(scaled(1.0e6, S));
run("flood", S) -> flood(scaled(1.0e7, S));
run("threadring", S) -> threadring(scaled(1.0e7, S));
run("spawn", S) -> spawn_idle(scaled(1.0e6, S));
run("async", S) -> async(scaled(1.0e7, S));
run("timers", S) -> timers(scaled(1.0e6, S));
run("io", S) -> echo(scaled(100, S));
run("restart", S) -> restart(scaled(1.0e5, S));
run("monitor", S) -> monitor_downs(scaled(1.0e6, S));
run("link_cascade", S) -> link_cascade(scaled(1.0e5, S));
run("request", S) -> request(scaled(1.0e6, S));
run("whereis", S) -> whereis_lookups(scaled(1.0e5, S), scaled(1.0e6, S));
run("big", S) -> big(?BIG_WORKERS, scaled(5000, S));
%% limit and scale are not peer workloads: print nothing.
run(_, _) -> ok.

%% -- helpers ------------------------------------------------------------------

to_float(Str) ->
    try list_to_float(Str)
    catch error:badarg -> float(list_to_integer(Str))
    end.

scaled(Full, Scale) -> max(1, round(Full * Scale)).

now_ns() -> erlang:monotonic_time(nanosecond).

emit(Metric, Value) ->
    {W, I} = persistent_term:get({?MODULE, bench}),
    io:format("BENCH ~s ~s ~s ~.2f~n", [W, I, Metric, float(Value)]).

fail(Why) ->
    {W, I} = persistent_term:get({?MODULE, bench}),
    fail_now(W, I, Why).

fail_now(W, I, Why) ->
    io:format(standard_error, "jzx_peer ~s ~s: ~s~n", [W, I, Why]),
    halt(1).

check(true, _) -> ok;
check(false, Why) -> fail(Why).

%% xorshift32 (13, 17, 5): the fixed-seed sequence every impl uses for whereis
%% and big; 32 bits stay a small integer, so no bignums in a timed loop.
xorshift32(X0) ->
    X1 = X0 bxor ((X0 bsl 13) band 16#FFFFFFFF),
    X2 = X1 bxor (X1 bsr 17),
    X2 bxor ((X2 bsl 5) band 16#FFFFFFFF).

%% Resident set size (VmRSS of /proc/self/status), in bytes.
rss_bytes() ->
    {ok, Bin} = file:read_file("/proc/self/status"),
    [_, Rest] = binary:split(Bin, <<"VmRSS:">>),
    [Kb | _] = string:lexemes(binary_to_list(Rest), " \t\n"),
    list_to_integer(Kb) * 1024.

%% -- pingpong: one message in flight between two processes -------------------

pingpong(N) ->
    Main = self(),
    T0 = now_ns(),
    spawn(fun() ->
                  Ping = self(),
                  Pong = spawn(fun() -> pong(Ping) end),
                  Pong ! 1,
                  ping(Pong, 1, N, Main)
          end),
    Got = receive {pingpong_done, K} -> K end,
    T1 = now_ns(),
    check(Got =:= N, "pingpong: wrong round trip count"),
    emit("ns_per_rt", (T1 - T0) / N).

ping(Pong, K, N, Main) ->
    receive
        R ->
            check(R =:= K, "pingpong: reply out of order"),
            if
                K =:= N ->
                    Pong ! stop,
                    Main ! {pingpong_done, K};
                true ->
                    Pong ! K + 1,
                    ping(Pong, K + 1, N, Main)
            end
    end.

pong(Ping) ->
    receive
        stop -> ok;
        K -> Ping ! K, pong(Ping)
    end.

%% -- flood: two bursts of B in flight, the receiver acks each full burst -----
%% The same workload as bench/jzx_bench.c: B = 512 and two bursts in flight
%% fill libjzx's default mailbox cap (1024) exactly, so the jzx side never has
%% a send refused and its receiver never waits; every impl uses the same B and
%% window. An ack asks for one more burst, so the receiver acks a full burst
%% only while messages remain unsent; the sender ends after its last burst.

flood(N) ->
    Main = self(),
    T0 = now_ns(),
    spawn(fun() ->
                  Sender = self(),
                  Recv = spawn(fun() -> flood_recv(0, N, Sender, Main) end),
                  flood_send(Recv, flood_window(Recv, 0, N, ?FLOOD_WINDOW), N)
          end),
    Got = receive {flood_done, C} -> C end,
    T1 = now_ns(),
    check(Got =:= N, "flood: wrong message count"),
    emit("msgs_per_s", N * 1.0e9 / (T1 - T0)).

flood_window(_Recv, Sent, _N, 0) -> Sent;
flood_window(Recv, Sent, N, Bursts) ->
    flood_window(Recv, flood_burst(Recv, Sent, N), N, Bursts - 1).

flood_send(_Recv, N, N) -> ok;
flood_send(Recv, Sent, N) ->
    receive ack -> flood_send(Recv, flood_burst(Recv, Sent, N), N) end.

%% Sends the next burst (up to B of the messages Sent+1..N); returns the new Sent.
flood_burst(Recv, Sent, N) ->
    End = min(N, Sent + ?FLOOD_BURST),
    burst(Recv, Sent + 1, End),
    End.

burst(_Recv, I, End) when I > End -> ok;
burst(Recv, I, End) -> Recv ! I, burst(Recv, I + 1, End).

flood_recv(C, N, Sender, Main) ->
    receive
        V ->
            C1 = C + 1,
            check(V =:= C1, "flood: message out of order"),
            (C1 rem ?FLOOD_BURST =:= 0 andalso C1 + ?FLOOD_BURST < N) andalso (Sender ! ack),
            if
                C1 =:= N -> Main ! {flood_done, C1};
                true -> flood_recv(C1, N, Sender, Main)
            end
    end.

%% -- threadring: 1000 processes, one token, N hops ---------------------------

threadring(Hops) ->
    Members = 1000,
    Main = self(),
    Ring = [spawn(fun() -> ring_init(I, Main) end) || I <- lists:seq(0, Members - 1)],
    [First | _] = Ring,
    Nexts = tl(Ring) ++ [First],
    [P ! {next, Next} || {P, Next} <- lists:zip(Ring, Nexts)],
    T0 = now_ns(),
    First ! Hops,
    Last = receive {ring_done, Idx} -> Idx end,
    T1 = now_ns(),
    check(Last =:= Hops rem Members, "threadring: token stopped at the wrong process"),
    [exit(P, kill) || P <- Ring],
    emit("ns_per_hop", (T1 - T0) / Hops).

ring_init(Idx, Main) ->
    receive {next, Next} -> ring(Idx, Next, Main) end.

ring(Idx, Next, Main) ->
    receive
        0 -> Main ! {ring_done, Idx}, ring(Idx, Next, Main);
        T -> Next ! T - 1, ring(Idx, Next, Main)
    end.

%% -- spawn: N idle processes, then stop them ---------------------------------
%% Memory is the RSS delta (as for CAF and libjzx), which includes the 16-byte
%% list cell per pid the spawner keeps, like the handle vector on the C side.

spawn_idle(N) ->
    Main = self(),
    Left = atomics:new(1, []),
    atomics:put(Left, 1, N),
    Procs0 = erlang:system_info(process_count),
    Rss0 = rss_bytes(),
    T0 = now_ns(),
    Pids = spawn_n(N, Left, Main, []),
    T1 = now_ns(),
    Rss1 = rss_bytes(),
    check(erlang:system_info(process_count) - Procs0 =:= N,
          "spawn: wrong number of processes alive"),
    [P ! stop || P <- Pids],
    %% The last process to stop reports; spawn is synchronous, stop is not.
    receive all_stopped -> ok end,
    T2 = now_ns(),
    emit("ns_per_spawn", (T1 - T0) / N),
    emit("ns_per_teardown", (T2 - T1) / N),
    emit("bytes_per_actor", (Rss1 - Rss0) / N).

spawn_n(0, _Left, _Main, Acc) -> Acc;
spawn_n(K, Left, Main, Acc) ->
    spawn_n(K - 1, Left, Main, [spawn(fun() -> idle(Left, Main) end) | Acc]).

idle(Left, Main) ->
    receive
        stop ->
            case atomics:sub_get(Left, 1, 1) of
                0 -> Main ! all_stopped;
                _ -> ok
            end
    end.

%% -- async: producers that are not the receiver send to one process ----------
%% Erlang has no plain OS threads to send from: the producers are ordinary
%% processes, sharing the schedulers with the receiver.

async(N) ->
    emit("msgs_per_s_1p", async_rate(N, 1)),
    emit("msgs_per_s_2p", async_rate(N, 2)).

async_rate(N, Producers) ->
    Per = N div Producers,
    Total = Per * Producers,
    WantSum = Producers * (Per * (Per + 1) div 2),
    Main = self(),
    Recv = spawn(fun() -> async_recv(0, 0, Total, Main) end),
    T0 = now_ns(),
    [spawn(fun() -> produce(Recv, 1, Per) end) || _ <- lists:seq(1, Producers)],
    {Count, Sum} = receive {async_done, C, S} -> {C, S} end,
    T1 = now_ns(),
    check(Count =:= Total, "async: wrong message count"),
    check(Sum =:= WantSum, "async: wrong message sum"),
    Total * 1.0e9 / (T1 - T0).

produce(_Recv, I, Per) when I > Per -> ok;
produce(Recv, I, Per) -> Recv ! I, produce(Recv, I + 1, Per).

async_recv(Total, Sum, Total, Main) -> Main ! {async_done, Total, Sum};
async_recv(C, Sum, Total, Main) ->
    receive V -> async_recv(C + 1, Sum + V, Total, Main) end.

%% -- timers: N one-shot timers in [0, 1000] ms; N schedule+cancel -------------

timers(N) ->
    Main = self(),
    rand:seed(exsss, {1, 2, 3}),
    T0 = now_ns(),
    Recv = spawn(fun() -> tick_recv(0, N, T0, Main) end),
    arm(N, Recv),
    TotalNs = receive {timers_done, Ns} -> Ns end,
    %% Far enough out that none expires before it is cancelled.
    Refs = [erlang:send_after(3600000 + rand:uniform(1001) - 1, self(), never)
            || _ <- lists:seq(1, N)],
    C0 = now_ns(),
    Cancelled = cancel_all(Refs, 0),
    C1 = now_ns(),
    check(Cancelled =:= N, "timers: a timer could not be cancelled"),
    emit("total_ms", TotalNs / 1.0e6),
    emit("overrun_ms", TotalNs / 1.0e6 - 1000),
    emit("ns_per_cancel", (C1 - C0) / N).

arm(0, _Recv) -> ok;
arm(K, Recv) ->
    erlang:send_after(rand:uniform(1001) - 1, Recv, tick),
    arm(K - 1, Recv).

tick_recv(N, N, T0, Main) -> Main ! {timers_done, now_ns() - T0};
tick_recv(C, N, T0, Main) -> receive tick -> tick_recv(C + 1, N, T0, Main) end.

%% cancel_timer returns the time left, or false when the timer was not armed.
cancel_all([], C) -> C;
cancel_all([R | Rs], C) ->
    case erlang:cancel_timer(R) of
        false -> cancel_all(Rs, C);
        Left when is_integer(Left) -> cancel_all(Rs, C + 1)
    end.

%% -- io: echo over loopback TCP, one process per connection on each side ----
%% gen_tcp with {active, once}; 100 round trips per connection at scale 1.

echo(Rounds) ->
    Main = self(),
    {ok, L} = gen_tcp:listen(0, [binary, {active, false}, {backlog, 1024},
                                 {nodelay, true}, {reuseaddr, true},
                                 {ip, {127, 0, 0, 1}}]),
    {ok, Port} = inet:port(L),
    spawn(fun() -> acceptor(L, ?IO_CONNS) end),
    Clients = [spawn(fun() -> client(Port, I, Rounds, Main) end)
               || I <- lists:seq(1, ?IO_CONNS)],
    [receive {connected, C} -> ok end || C <- Clients],
    T0 = now_ns(),
    [C ! go || C <- Clients],
    Total = lists:sum([receive {io_done, K} -> K end || _ <- Clients]),
    T1 = now_ns(),
    check(Total =:= Rounds * ?IO_CONNS, "io: wrong round trip count"),
    emit("rt_per_s", Total * 1.0e9 / (T1 - T0)).

acceptor(_L, 0) -> ok;
acceptor(L, K) ->
    {ok, S} = gen_tcp:accept(L),
    P = spawn(fun() -> receive owner -> ok end, server_conn(S) end),
    ok = gen_tcp:controlling_process(S, P),
    P ! owner,
    acceptor(L, K - 1).

server_conn(S) ->
    ok = inet:setopts(S, [{active, once}]),
    receive
        {tcp, S, Data} -> ok = gen_tcp:send(S, Data), server_conn(S);
        {tcp_closed, S} -> ok
    end.

client(Port, I, Rounds, Main) ->
    {ok, S} = gen_tcp:connect({127, 0, 0, 1}, Port,
                              [binary, {active, false}, {nodelay, true}]),
    Payload = << <<($a + (I + J) rem 26)>> || J <- lists:seq(0, ?IO_MSG - 1) >>,
    Main ! {connected, self()},
    receive go -> ok end,
    client_loop(S, Payload, Rounds),
    gen_tcp:close(S),
    Main ! {io_done, Rounds}.

client_loop(_S, _Payload, 0) -> ok;
client_loop(S, Payload, K) ->
    ok = gen_tcp:send(S, Payload),
    check(recv_exact(S, ?IO_MSG, <<>>) =:= Payload, "io: echo differs from what was sent"),
    client_loop(S, Payload, K - 1).

%% TCP is a byte stream: collect the whole echo.
recv_exact(_S, 0, Acc) -> Acc;
recv_exact(S, Want, Acc) ->
    ok = inet:setopts(S, [{active, once}]),
    receive
        {tcp, S, Data} -> recv_exact(S, Want - byte_size(Data), <<Acc/binary, Data/binary>>);
        {tcp_closed, S} -> fail("io: connection closed early")
    end.

%% -- restart: a permanent child failing N times under one_for_one ------------
%% A real OTP supervisor. The child is a plain linked process that records
%% its start time and exits at once; the (N+1)-th child stays up and reports.
%% Logging is turned off: supervisor reports would otherwise be built and
%% filtered 100k times, which measures the logger, not the restart.

restart(N) ->
    logger:set_primary_config(level, none),
    Main = self(),
    Idx = atomics:new(1, []),
    Ts = atomics:new(N + 1, [{signed, true}]),
    Flags = #{strategy => one_for_one, intensity => N + 10, period => 1},
    Child = #{id => child, start => {?MODULE, start_child, [Idx, Ts, N, Main]},
              restart => permanent, shutdown => brutal_kill, type => worker},
    {ok, Sup} = supervisor:start_link(jzx_peer_sup, {Flags, [Child]}),
    receive {restart_done, K} -> check(K =:= N + 1, "restart: wrong number of restarts") end,
    unlink(Sup),
    exit(Sup, shutdown),
    Starts = [atomics:get(Ts, I) || I <- lists:seq(1, N + 1)],
    D = lists:sort(deltas(Starts)),
    check(length(D) =:= N andalso hd(D) > 0, "restart: a child did not start"),
    emit("ns_per_restart_mean", (lists:last(Starts) - hd(Starts)) / N),
    emit("ns_per_restart_p99", lists:nth((N * 99 + 99) div 100, D)).

deltas([A, B | T]) -> [B - A | deltas([B | T])];
deltas(_) -> [].

start_child(Idx, Ts, N, Main) ->
    K = atomics:add_get(Idx, 1, 1),
    Pid = spawn_link(fun() ->
                             atomics:put(Ts, K, now_ns()),
                             if
                                 K =< N -> exit(crash);
                                 true -> Main ! {restart_done, K}, receive after infinity -> ok end
                             end
                     end),
    {ok, Pid}.

%% -- monitor: N DOWN messages, batches of 1000 idle targets ------------------
%% Spawning a batch is not timed; monitoring it, stopping it and taking its
%% DOWN messages is.

monitor_downs(N) -> emit("ns_per_down", monitor_batches(N, 0) / N).

monitor_batches(0, Ns) -> Ns;
monitor_batches(Left, Ns) ->
    K = min(?MONITOR_BATCH, Left),
    Targets = [spawn(fun stop_target/0) || _ <- lists:seq(1, K)],
    T0 = now_ns(),
    Refs = maps:from_list([{erlang:monitor(process, P), P} || P <- Targets]),
    [P ! stop || P <- Targets],
    downs(Refs),
    T1 = now_ns(),
    monitor_batches(Left - K, Ns + T1 - T0).

stop_target() -> receive stop -> ok end.

%% Each monitor's DOWN must come once, for its process, with reason normal.
downs(Refs) when map_size(Refs) =:= 0 -> ok;
downs(Refs) ->
    receive
        {'DOWN', Ref, process, Pid, Reason} ->
            check(Reason =:= normal, "monitor: a target did not exit normally"),
            case maps:take(Ref, Refs) of
                {Pid, Rest} -> downs(Rest);
                _ -> fail("monitor: a DOWN came twice or for the wrong process")
            end
    end.

%% -- link_cascade: a1 crashes, the exit runs down a chain of N linked ---------
%% Each process links to its predecessor and says so before the next is
%% spawned; none traps exits, so each dies of its predecessor's exit signal.

link_cascade(N) ->
    Main = self(),
    First = spawn(fun chain_member/0),
    Chain = chain(N - 1, First, Main, [First]),
    [Last | _] = Chain,
    Ref = erlang:monitor(process, Last),
    T0 = now_ns(),
    First ! crash,
    receive
        {'DOWN', Ref, process, Last, Reason} ->
            check(Reason =:= crash, "link_cascade: the last process died of something else")
    end,
    T1 = now_ns(),
    check(not lists:any(fun erlang:is_process_alive/1, Chain),
          "link_cascade: a process outlived the cascade"),
    emit("ns_per_actor", (T1 - T0) / N).

%% Returns the chain, last process first.
chain(0, _Prev, _Main, Acc) -> Acc;
chain(K, Prev, Main, Acc) ->
    P = spawn(fun() -> link(Prev), Main ! {linked, self()}, chain_member() end),
    receive {linked, P} -> ok end,
    chain(K - 1, P, Main, [P | Acc]).

chain_member() -> receive crash -> exit(crash) end.

%% -- request: N sequential gen_server:call round trips -----------------------
%% The call keeps gen_server's default 5 s timeout, as application code does.

request(N) ->
    {ok, Server} = gen_server:start(jzx_peer_server, [], []),
    T0 = now_ns(),
    calls(Server, 1, N),
    T1 = now_ns(),
    emit("ns_per_rt", (T1 - T0) / N).

calls(_Server, I, N) when I > N -> ok;
calls(Server, I, N) ->
    check(gen_server:call(Server, {add, I}) =:= I + 1, "request: wrong reply"),
    calls(Server, I + 1, N).

%% -- whereis: N lookups of registered names, picked by xorshift32 ------------
%% Names and the lookup sequence are made before the clock starts.

whereis_lookups(Names, N) ->
    Atoms = list_to_tuple([list_to_atom("w" ++ integer_to_list(I))
                           || I <- lists:seq(0, Names - 1)]),
    [register(A, spawn(fun stop_target/0)) || A <- tuple_to_list(Atoms)],
    Seq = lookup_seq(N, ?WHEREIS_SEED, Atoms, []),
    T0 = now_ns(),
    lookups(Seq),
    T1 = now_ns(),
    emit("ns_per_lookup", (T1 - T0) / N).

lookup_seq(0, _X, _Atoms, Acc) -> Acc;
lookup_seq(K, X0, Atoms, Acc) ->
    X = xorshift32(X0),
    lookup_seq(K - 1, X, Atoms, [element(X rem tuple_size(Atoms) + 1, Atoms) | Acc]).

%% A registered name belongs to a live process: whereis must find a pid.
lookups([]) -> ok;
lookups([Name | Rest]) ->
    case whereis(Name) of
        P when is_pid(P) -> lookups(Rest);
        _ -> fail("whereis: a registered name was not found")
    end.

%% -- big: W workers each ping random others M times, one ping in flight ------
%% Savina's "big". Worker I seeds xorshift32 with (I + 1) * 0x9E3779B9 and
%% picks peer X rem (W - 1), skipping itself. Every ping gets a pong; a worker
%% that has its M pongs tells the sink (the main process) and keeps answering.

big(W, M) ->
    Main = self(),
    Workers = list_to_tuple([spawn(fun() -> big_init(I, M, Main) end)
                             || I <- lists:seq(0, W - 1)]),
    [P ! {peers, Workers} || P <- tuple_to_list(Workers)],
    T0 = now_ns(),
    [P ! go || P <- tuple_to_list(Workers)],
    {Sent, Pongs} = big_sink(W, 0, 0),
    T1 = now_ns(),
    [P ! {count, Main} || P <- tuple_to_list(Workers)],
    Pings = lists:sum([receive {big_pings, K} -> K end || _ <- tuple_to_list(Workers)]),
    check(Sent =:= W * M andalso Pongs =:= W * M andalso Pings =:= W * M,
          "big: pings sent, pings received and pongs differ from W * M"),
    emit("msgs_per_s", 2 * W * M * 1.0e9 / (T1 - T0)).

big_sink(0, Sent, Pongs) -> {Sent, Pongs};
big_sink(K, Sent, Pongs) ->
    receive {big_done, S, P} -> big_sink(K - 1, Sent + S, Pongs + P) end.

big_init(I, M, Sink) ->
    receive {peers, Peers} -> ok end,
    Seed = ((I + 1) * 16#9E3779B9) band 16#FFFFFFFF,
    big_worker(I, Peers, Seed, 0, 0, 0, M, Sink).

%% Sent and Pongs count this worker's own pings; Pings counts those it answered.
big_worker(I, Peers, X, Sent, Pongs, Pings, M, Sink) ->
    receive
        {ping, From} ->
            From ! pong,
            big_worker(I, Peers, X, Sent, Pongs, Pings + 1, M, Sink);
        go ->
            big_worker(I, Peers, big_ping(I, Peers, X), 1, Pongs, Pings, M, Sink);
        pong when Sent < M ->
            big_worker(I, Peers, big_ping(I, Peers, X), Sent + 1, Pongs + 1, Pings, M, Sink);
        pong ->
            Sink ! {big_done, Sent, Pongs + 1},
            big_worker(I, Peers, X, Sent, Pongs + 1, Pings, M, Sink);
        {count, Main} ->
            Main ! {big_pings, Pings}
    end.

%% Sends one ping to a random other worker; returns the new generator state.
big_ping(I, Peers, X0) ->
    X = xorshift32(X0),
    T = X rem (tuple_size(Peers) - 1),
    element(if T >= I -> T + 2; true -> T + 1 end, Peers) ! {ping, self()},
    X.
