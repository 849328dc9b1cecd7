%% Supervisor callback for the restart workload of jzx_peer: the flags and
%% child spec come from the caller.
-module(jzx_peer_sup).
-behaviour(supervisor).
-export([init/1]).

init({Flags, Children}) -> {ok, {Flags, Children}}.
