"""Base images: upstream's when a registry serves them, else a debootstrapped Debian."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from llama_images.adapters.emulation import emulation_missing
from llama_images.adapters.engine import Engine
from llama_images.errors import ProjectError
from llama_images.model.catalog import Bases, OfflineBase, Variant

APT_SOURCES = (Path("/etc/apt/sources.list.d"), Path("/etc/apt/sources.list"))
DEBOOTSTRAP_TIMEOUT = 1800
IMAGE_CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    'CMD ["bash"]',
)


@dataclass(frozen=True)
class ResolvedBases:
    """The bases one variant is built on, and which profile chose them."""

    build: str
    runtime: str
    profile: str  # "upstream" or "offline"
    # The runtime base per platform other than the host's, where it is another image (the
    # offline base; upstream's are multi-platform).
    foreign_runtimes: Mapping[str, str] = field(default_factory=dict)

    def runtime_on(self, platform: str) -> str:
        return self.foreign_runtimes.get(platform, self.runtime)


def host_debian_mirror(sources: tuple[Path, ...] = APT_SOURCES) -> str | None:
    """The first Debian archive URL of the host's apt configuration (not the security one)."""
    files: list[Path] = []
    for source in sources:
        if source.is_dir():
            files += sorted(source.glob("*.sources")) + sorted(source.glob("*.list"))
        elif source.is_file():
            files.append(source)
    for path in files:
        for line in path.read_text(errors="replace").splitlines():
            found = re.match(r"^\s*(?:URIs:\s*|deb\s+(?:\[[^]]*\]\s+)?)(\S+)", line)
            if found and "security" not in found[1] and "/debian" in found[1]:
                return found[1].rstrip("/")
    return None


def accept_expired_release(sources_list: Path) -> None:
    """Marks each source line of a sources.list `check-valid-until=no`: apt's per-source form
    of `-o Acquire::Check-Valid-Until=false`, for a suite whose Release file on the mirror
    is past its Valid-Until date (check_valid_until = false in the catalog)."""
    text = sources_list.read_text()
    sources_list.write_text(
        re.sub(
            r"^(deb|deb-src) (?:\[([^]]*)\] )?",
            lambda line: f"{line[1]} [{line[2] + ' ' if line[2] else ''}check-valid-until=no] ",
            text,
            flags=re.MULTILINE,
        )
    )


@dataclass
class BaseResolver:
    """Chooses bases per variant, pulling or making each one at most once per run."""

    engine: Engine
    offline: OfflineBase
    mode: str  # auto, upstream, offline
    mirror: str = ""
    workdir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()))
    dry_run: bool = False
    _available: dict[str, bool] = field(default_factory=dict)

    def resolve(self, variant: Variant, foreign_platforms: Sequence[str] = ()) -> ResolvedBases:
        """The variant's bases; `foreign_platforms`: those built here but not the host's."""
        if self.mode != "offline" and self._upstream_available(variant.bases):
            return ResolvedBases(variant.bases.build, variant.bases.runtime, "upstream")
        if self.mode == "upstream":
            if not self.dry_run:
                raise ProjectError(
                    f"upstream bases of {variant.name} ({variant.bases.build}) cannot be pulled: "
                    "check registry access or set LLAMA_IMAGES_BASE_MODE=auto"
                )
            # A dry run shows the plan a machine that reaches the registry would follow.
            print(
                f"dry run: {variant.name}'s upstream bases ({variant.bases.build}, "
                f"{variant.bases.runtime}) are not reachable from here; a real run would stop",
                file=sys.stderr,
            )
            return ResolvedBases(variant.bases.build, variant.bases.runtime, "upstream")
        if not variant.offline.supported:
            why = variant.offline.reason or "the offline Debian base has no toolkit for it"
            raise ProjectError(
                f"variant {variant.name} needs its upstream base images "
                f"({variant.bases.build}), which no registry serves here; {why}"
            )
        base = self.offline.for_variant(variant.offline)
        ref = self.ensure_offline_base(base)
        foreign = {p: self.ensure_offline_base(base, p) for p in foreign_platforms}
        return ResolvedBases(ref, ref, "offline", foreign)

    def _upstream_available(self, bases: Bases) -> bool:
        return all(self._available_ref(ref) for ref in {bases.build, bases.runtime})

    def _available_ref(self, ref: str) -> bool:
        if ref not in self._available:
            present = self.engine.image_exists(ref)
            if not present and self.dry_run:
                present = self.engine.registry_serves(ref)
            elif not present:
                print(f"pulling {ref} ...", file=sys.stderr)
                present = self.engine.try_pull(ref)
            self._available[ref] = present
        return self._available[ref]

    def ensure_offline_base(self, base: OfflineBase, platform: str = "") -> str:
        """The offline base, made with debootstrap where the engine lacks it; of `platform`,
        a foreign one, debootstrapped under emulation."""
        ref = base.ref_on(platform) if platform else base.ref
        if self.dry_run or self.engine.image_exists(ref):
            return ref
        why = emulation_missing(platform) if platform else ""
        if why:
            raise ProjectError(
                f"the offline base for {platform} is made under emulation, and {why}"
            )
        mirror = self.mirror or host_debian_mirror()
        if not mirror:
            raise ProjectError(
                "no Debian mirror found in the host's apt configuration: "
                "set LLAMA_IMAGES_DEBIAN_MIRROR"
            )
        if shutil.which("debootstrap") is None or os.geteuid() != 0:
            raise ProjectError(
                "no registry serves the upstream bases and the offline base needs debootstrap "
                "run as root: apt-get install debootstrap, then run again as root"
            )
        print(
            f"no registry reachable: making {ref} with debootstrap from {mirror}", file=sys.stderr
        )
        with tempfile.TemporaryDirectory(dir=self.workdir, prefix="debootstrap-") as tmp:
            rootfs = Path(tmp) / "rootfs"
            done = subprocess.run(
                [
                    "debootstrap",
                    *([f"--arch={platform.rsplit('/', 1)[-1]}"] if platform else []),
                    "--variant=minbase",
                    f"--components={','.join(base.components)}",
                    base.suite,
                    str(rootfs),
                    mirror,
                ],
                capture_output=True,
                text=True,
                timeout=DEBOOTSTRAP_TIMEOUT,
                check=False,
            )
            if done.returncode != 0:
                detail = (done.stdout + done.stderr).strip().splitlines()[-1:] or ["no output"]
                raise ProjectError(f"debootstrap {base.suite} failed: {detail[0]}")
            if not base.check_valid_until:
                accept_expired_release(rootfs / "etc" / "apt" / "sources.list")
            self.engine.import_rootfs(rootfs, ref, IMAGE_CHANGES, platform)
        return ref
