%% gen_server for the request workload of jzx_peer: replies I + 1 to {add, I}.
-module(jzx_peer_server).
-behaviour(gen_server).
-export([init/1, handle_call/3, handle_cast/2]).

init([]) -> {ok, none}.

handle_call({add, I}, _From, State) -> {reply, I + 1, State}.

%% Required by the behaviour; nothing casts.
handle_cast(_Msg, State) -> {noreply, State}.
