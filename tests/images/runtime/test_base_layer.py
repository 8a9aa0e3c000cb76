"""The `runtime` target as a base layer: an application copies itself in and spawns the server."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from llama_images.adapters.engine import BuildRequest, Engine, device_options
from llama_images.model.catalog import Catalog
from llama_images.model.metadata import project_label
from llama_images.testing.servers import MODEL_MOUNT, ImageUnderTest, host_can_run
from llama_images.testing.tinymodel import MODEL_NAME

DOWNSTREAM_DOCKERFILE = """\
ARG BASE
FROM ${BASE}
RUN useradd --uid 20002 --create-home app
COPY app.sh /usr/local/bin/app
USER 20002
ENTRYPOINT ["/usr/local/bin/app"]
"""

# The application: spawns llama-server from the contract path with no
# environment tweaks, waits for /health and asks for one completion, using
# only bash (the base layer ships no HTTP client).
APP_SCRIPT = """\
#!/bin/bash
set -eu
server="$1"
"$server" -m {model} --port 8080 > /tmp/server.log 2>&1 &
pid=$!
request() {{
    exec 3<>/dev/tcp/127.0.0.1/8080 || return 1
    printf '%s' "$1" >&3
    cat <&3
    exec 3>&-
}}
for _ in $(seq 1 120); do
    if health=$(request $'GET /health HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' 2>/dev/null) \\
        && [[ "$health" == *'"ok"'* ]]; then
        break
    fi
    kill -0 "$pid" 2>/dev/null || {{ echo "server died"; cat /tmp/server.log; exit 1; }}
    sleep 1
done
echo "$health"
body='{{"prompt": "Hello", "n_predict": 4}}'
head=$'POST /completion HTTP/1.0\\r\\nHost: localhost\\r\\nContent-Type: application/json'
request "$(printf '%s\\r\\nContent-Length: %d\\r\\n\\r\\n%s' "$head" "${{#body}}" "$body")"
echo
echo "app user: $(id -u)"
kill "$pid"
"""


def test_application_spawns_server_from_contract_path(
    engine: Engine,
    runtime_image: ImageUnderTest,
    model_dir: Path,
    tmp_path: Path,
    catalog: Catalog,
) -> None:
    requires = catalog.variants[runtime_image.variant].smoke.requires
    reason = host_can_run(requires)
    if reason:
        pytest.skip(f"{runtime_image.ref} {reason}; a host that has it runs this check")
    context = tmp_path / "downstream"
    context.mkdir()
    (context / "Dockerfile").write_text(DOWNSTREAM_DOCKERFILE)
    app = context / "app.sh"
    app.write_text(APP_SCRIPT.format(model=f"{MODEL_MOUNT}/{MODEL_NAME}"))
    app.chmod(0o755)
    platform = runtime_image.labels[project_label("platform")]
    request = BuildRequest(
        dockerfile=context / "Dockerfile",
        context=context,
        target="",
        platform=platform,
        build_args={"BASE": runtime_image.ref},
        labels={},
    )
    log = io.StringIO()
    image_id = engine.build(request, log)
    try:
        code, output = engine.run(
            image_id,
            [runtime_image.server_path],
            volumes={str(model_dir): {"bind": MODEL_MOUNT, "mode": "ro"}},
            **device_options(requires),
        )
    finally:
        engine.remove_image(image_id)
    assert code == 0, output
    assert '"status":"ok"' in output.replace(" ", ""), output
    assert "HTTP/1.1 200" in output, output
    assert '"tokens_predicted"' in output, output
    assert "app user: 20002" in output, output
