"""Shell checks run inside an image as an unprivileged user, as an application would run them."""

from __future__ import annotations

from llama_images.adapters.engine import Engine
from llama_images.testing.servers import ImageUnderTest

NOBODY = "65534:65534"


def run_in(engine: Engine, image: ImageUnderTest, script: str) -> tuple[int, str]:
    """Runs a shell script in the image as nobody, with LD_LIBRARY_PATH unset."""
    return engine.run(
        image.ref,
        ["-c", script],
        entrypoint=["/bin/sh"],
        user=NOBODY,
        environment={"LD_LIBRARY_PATH": ""},
    )


def unresolved_libraries(
    engine: Engine, image: ImageUnderTest, folder: str, allowed: tuple[str, ...] = ()
) -> tuple[int, str]:
    """ldd on every ELF of a folder, as nobody, LD_LIBRARY_PATH unset: (status, problems)."""
    script = f"""
        unset LD_LIBRARY_PATH
        [ "$(id -u)" != 0 ] || {{ echo "running as root"; exit 3; }}
        status=0
        for f in {folder}/*; do
            [ -f "$f" ] && [ ! -L "$f" ] || continue
            head -c 4 "$f" | grep -q ELF || continue
            out=$(ldd "$f") || {{ echo "ldd failed on $f"; status=1; continue; }}
            missing=$(echo "$out" | sed -n 's/^[[:space:]]*\\([^ ]*\\) => not found.*/\\1/p')
            for soname in $missing; do
                case " {" ".join(allowed)} " in *" $soname "*) continue ;; esac
                echo "$f: $soname not found"; status=1
            done
        done
        exit $status
    """
    return run_in(engine, image, script)
