%% Erlang distribution peer of the remote workloads (impl erlang): the work
%% of bench/nats_bench.c between two Erlang nodes on this host instead of two
%% libjzx-nats node processes and a nats-server.
%%
%% Run (bench/peers/run.sh does it, with epmd running):
%%   erl -noshell -sname A -pa OUT -run jzx_dist main <workload> <impl> <scale>
%% Node A starts node B with peer:start_link (`erl -sname`, the same cookie
%% and code path, default schedulers), spawns the server side there and
%% measures; B is stopped at the end. Prints
%% "BENCH <workload> <impl> <metric> <value>" and halts with 0, or non-zero
%% when a workload does not compute what it should. One untimed warm-up round
%% trip first (the connection between the nodes exists before that).
%%
%%   remote_pingpong  A: Pong ! {self(), I}; B: From ! I     (rt_per_s)
%%   remote_request   gen_server:call(Srv, {add, I}) to a gen_server on B
%%                    (jzx_peer_server: replies I + 1)        (rt_per_s)
%%   remote_flood     A sends {data, I} in bursts of 512, two in flight; B
%%                    checks the order and acks each burst   (msgs_per_s)
-module(jzx_dist).
-export([main/1, pong/0, flood_receiver/2]).

-define(RT, 10000).
-define(FLOOD, 1000000).
-define(BURST, 512).
-define(WINDOW, 2).

main([Workload, Impl, ScaleStr]) ->
    persistent_term:put({?MODULE, bench}, {Workload, Impl}),
    Scale = to_float(ScaleStr),
    Scale > 0 orelse fail("bad scale " ++ ScaleStr),
    spawn(fun() -> receive after 600000 -> fail("watchdog") end end),
    case lists:member(Workload, ["remote_pingpong", "remote_request", "remote_flood"]) of
        true -> with_peer(fun(Node) -> run(Workload, Node, Scale) end);
        false -> ok
    end,
    halt(0);
main(_) ->
    io:format(standard_error, "usage: jzx_dist main <workload> <impl> <scale>~n", []),
    halt(2).

with_peer(Fun) ->
    node() =/= nonode@nohost orelse fail("node A must be started with -sname"),
    Dir = filename:dirname(code:which(?MODULE)),
    Name = "jzxb_" ++ os:getpid(),
    {ok, Peer, Node} = peer:start_link(#{name => Name,
                                         args => ["-setcookie", atom_to_list(erlang:get_cookie()),
                                                  "-pa", Dir]}),
    pong = net_adm:ping(Node),
    Fun(Node),
    peer:stop(Peer).

run("remote_pingpong", Node, S) -> pingpong(Node, scaled(?RT, S));
run("remote_request", Node, S) -> request(Node, scaled(?RT, S));
run("remote_flood", Node, S) -> flood(Node, scaled(?FLOOD, S)).

%% -- remote_pingpong ---------------------------------------------------------

pingpong(Node, N) ->
    Pong = spawn(Node, ?MODULE, pong, []),
    Pong ! {self(), 0},
    receive 0 -> ok end,
    T0 = now_ns(),
    ping(Pong, 1, N),
    emit("rt_per_s", N * 1.0e9 / (now_ns() - T0)),
    Pong ! stop.

ping(_, I, N) when I > N -> ok;
ping(Pong, I, N) ->
    Pong ! {self(), I},
    receive
        I -> ping(Pong, I + 1, N);
        Other -> fail(io_lib:format("pingpong: got ~p for ~p", [Other, I]))
    end.

pong() ->
    receive
        {From, I} -> From ! I, pong();
        stop -> ok
    end.

%% -- remote_request ----------------------------------------------------------

request(Node, N) ->
    {ok, Srv} = erpc:call(Node, gen_server, start, [jzx_peer_server, [], []]),
    check(gen_server:call(Srv, {add, 0}) =:= 1, "request: warm-up"),
    T0 = now_ns(),
    call(Srv, 1, N),
    emit("rt_per_s", N * 1.0e9 / (now_ns() - T0)),
    gen_server:stop(Srv).

call(_, I, N) when I > N -> ok;
call(Srv, I, N) ->
    check(gen_server:call(Srv, {add, I}) =:= I + 1, "request: wrong reply"),
    call(Srv, I + 1, N).

%% -- remote_flood ------------------------------------------------------------

flood(Node, Total) ->
    Recv = spawn(Node, ?MODULE, flood_receiver, [self(), Total]),
    Recv ! {ping, self()},
    receive pong -> ok end,
    T0 = now_ns(),
    Sent = burst(Recv, burst(Recv, 0, Total), Total),
    Sent2 = acks(Recv, Sent, Total, (Total + ?BURST - 1) div ?BURST),
    emit("msgs_per_s", Total * 1.0e9 / (now_ns() - T0)),
    check(Sent2 =:= Total, "flood: not everything sent"),
    %% The receiver checked it got everything, in order, before the last ack.
    ok.

acks(_, Sent, _, 0) -> Sent;
acks(Recv, Sent, Total, Left) ->
    receive
        ack -> acks(Recv, burst(Recv, Sent, Total), Total, Left - 1);
        {out_of_order, N, M} -> fail(io_lib:format("flood: got ~p, expected ~p", [M, N]))
    end.

burst(Recv, Sent, Total) ->
    Last = min(Sent + ?BURST, Total),
    send_range(Recv, Sent, Last),
    Last.

send_range(_, I, Last) when I >= Last -> ok;
send_range(Recv, I, Last) ->
    Recv ! {data, I},
    send_range(Recv, I + 1, Last).

flood_receiver(Sender, Total) ->
    receive {ping, From} -> From ! pong end,
    receive_data(Sender, 0, Total).

receive_data(_, Total, Total) -> ok;
receive_data(Sender, N, Total) ->
    receive
        {data, N} ->
            N1 = N + 1,
            case N1 rem ?BURST =:= 0 orelse N1 =:= Total of
                true -> Sender ! ack;
                false -> ok
            end,
            receive_data(Sender, N1, Total);
        {data, M} ->
            Sender ! {out_of_order, N, M},
            exit(out_of_order)
    end.

%% -- helpers -----------------------------------------------------------------

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
    io:format(standard_error, "jzx_dist ~s ~s: ~s~n", [W, I, Why]),
    halt(1).

check(true, _) -> ok;
check(false, Why) -> fail(Why).
