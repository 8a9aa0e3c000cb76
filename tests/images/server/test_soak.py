"""A bounded soak of every server image: continuous chat load on the tiny model, loopback only.

Besides test_server's 32-request burst: for SOAK_SECONDS (env LLAMA_IMAGES_SOAK_SECONDS),
PARALLEL client threads chat without pause. No request may fail, resident memory must stop
growing, and the container must stay healthy throughout. The figures are reported in the
results table, never asserted on: time depends on the host.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import httpx

from llama_images.adapters.engine import Engine
from llama_images.model.catalog import Smoke
from llama_images.testing.servers import ImageUnderTest, RunningServer, seeded_chat
from tests.images.shared.servers import (
    CONTEXT,
    MODEL,
    PARALLEL,
    variant_server,
    wait_healthy_or_show_log,
)

SOAK_SECONDS = float(os.environ.get("LLAMA_IMAGES_SOAK_SECONDS", "60"))
SAMPLE_SECONDS = 5.0
MIB = 1024 * 1024
GROWTH_RATIO = 0.10
GROWTH_BYTES = 32 * MIB
# llama-server keeps finished prompts in a host-memory cache of up to --cache-ram MiB
# (8192 by default): distinct prompts grow it by about 30 KiB each, for gigabytes. Bounded
# here, it fills early in the soak, and then resident memory must stop growing.
CACHE_RAM_MIB = 8


def chat_until(
    server: RunningServer, deadline: float, worker: int, least: int = 0
) -> tuple[int, str | None]:
    """Chats without pause until the deadline and at least `least` answers.

    Returns the requests answered and the first failure, if any (the client stops there).
    """
    done = 0
    with httpx.Client(base_url=server.base_url, timeout=300) as client:
        while time.monotonic() < deadline or done < least:
            # Zero-padded, so every prompt has one length: a new length is a new tensor shape,
            # for which Vulkan on lavapipe compiles pipelines for a minute mid-soak.
            seed = worker * 100_000 + done
            try:
                response = client.post(
                    "/v1/chat/completions", json=seeded_chat(f"Soak {seed:07d}: say hi.", seed)
                )
            except httpx.TransportError as exc:
                return done, f"request {seed}: {exc!r}"
            ok = response.status_code == 200
            if not (ok and response.json()["choices"][0]["message"]["content"]):
                return done, f"request {seed}: {response.status_code} {response.text[:300]}"
            done += 1
    return done, None


def test_soak(
    engine: Engine,
    server_image: ImageUnderTest,
    model_dir: Path,
    smoke: Smoke,
    server_cache: str,
    metrics: dict[str, float],
) -> None:
    """No failed request, resident memory that levels off, healthy from start to end."""
    args = ["-m", MODEL, "--parallel", str(PARALLEL), "-c", str(CONTEXT)]
    args += ["--cache-ram", str(CACHE_RAM_MIB)]
    with variant_server(
        engine, server_image, model_dir, smoke, args, cache_volume=server_cache
    ) as server:
        wait_healthy_or_show_log(server)
        rss: list[int] = []
        health: list[str] = []
        with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
            # Vulkan on lavapipe compiles its shader pipelines at first use, for up to a
            # minute and a transient 200 MiB: one concurrent round first, out of the soak.
            warm = list(pool.map(lambda n: chat_until(server, 0, PARALLEL + n, 1), range(PARALLEL)))
            started = time.monotonic()
            deadline = started + SOAK_SECONDS
            futures = [pool.submit(chat_until, server, deadline, n) for n in range(PARALLEL)]
            while not all(future.done() for future in futures):
                state = server.state()
                health.append(str(state.get("Health", {}).get("Status", "none")))
                if state.get("Status") == "running":
                    rss.append(server.resident_bytes())
                wait(futures, timeout=SAMPLE_SECONDS)
        elapsed = time.monotonic() - started
        results = [future.result() for future in futures]
        final = server.health()
        errors = [line for line in server.logs().splitlines() if " E " in line][-5:]

    print(f"{server_image.ref} resident MiB every {SAMPLE_SECONDS:.0f} s:", [r // MIB for r in rss])
    failures = [failure for _, failure in [*warm, *results] if failure]
    requests = sum(done for done, _ in results)
    metrics.update(
        {
            "requests": requests,
            "failed": len(failures),
            "requests_per_s": requests / elapsed,
            "rss_start_mib": rss[0] / MIB if rss else 0.0,
            "rss_end_mib": rss[-1] / MIB if rss else 0.0,
        }
    )
    assert not failures, f"{len(failures)} request(s) failed: {failures}; log: {errors}"
    assert "unhealthy" not in health, f"unhealthy during the soak: {health}; log: {errors}"
    assert final == "healthy", f"{final} after the soak; log: {errors}"
    # The first third is warm-up: the KV cache and Vulkan shader pipelines allocate once.
    # After it, the peak of the last third may exceed the middle third's by at most 10%
    # or 32 MiB, whichever is larger: only a rise beyond both is growth.
    assert len(rss) >= 3, f"too few memory samples ({len(rss)}): raise LLAMA_IMAGES_SOAK_SECONDS"
    third = len(rss) // 3
    middle, last = max(rss[third : 2 * third]), max(rss[2 * third :])
    growth = last - middle
    assert growth <= GROWTH_RATIO * middle or growth <= GROWTH_BYTES, (
        f"resident memory still growing: {middle / MIB:.1f} -> {last / MIB:.1f} MiB "
        f"(samples, MiB: {[round(sample / MIB) for sample in rss]})"
    )
