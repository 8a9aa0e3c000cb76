#!/bin/sh
# The server target's HEALTHCHECK: GET /health on the port llama-server listens
# on however it was set: `--port N` or `--port=N` on the container's command line
# (PID 1 is the server, or an init whose arguments end with the server's), else
# LLAMA_ARG_PORT, else llama-server's default, 8080.
set -eu
port=$(tr '\0' '\n' < /proc/1/cmdline | {
    port=${LLAMA_ARG_PORT:-8080}
    take=
    while IFS= read -r arg; do
        if [ -n "$take" ]; then
            port=$arg
            take=
        fi
        case $arg in
            --port) take=1 ;;
            --port=*) port=${arg#--port=} ;;
        esac
    done
    echo "$port"
})
exec curl -fsS -o /dev/null "http://127.0.0.1:$port/health"
