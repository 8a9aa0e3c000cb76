#!/bin/sh
# The server target's HEALTHCHECK: GET /health on the port llama-server listens
# on however it was set: `--port N` on the container's command line (PID 1 is the
# server, or an init whose arguments end with the server's; llama-server takes no
# `--port=N`), else LLAMA_ARG_PORT, else llama-server's default, 8080.
set -eu
port=$(tr '\0' '\n' < /proc/1/cmdline | {
    port=${LLAMA_ARG_PORT:-8080}
    take=
    while IFS= read -r arg; do
        if [ -n "$take" ]; then
            port=$arg
            take=
        fi
        if [ "$arg" = --port ]; then
            take=1
        fi
    done
    echo "$port"
})
exec curl -fsS -o /dev/null "http://127.0.0.1:$port/health"
