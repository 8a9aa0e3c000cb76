"""compose.sh, run on the host against small stand-in folders (non-ELF files: no ldd)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit.conftest import REPO_ROOT

COMPOSE = REPO_ROOT / "base-images" / "scripts" / "compose.sh"


def compose(plugin: Path, root: Path, variant: str = "vulkan") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(COMPOSE), str(plugin), str(root), variant],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    core = tmp_path / "app" / "cpu"
    core.mkdir(parents=True)
    for name in ("llama-server", "libllama.so", "libggml-base.so", "libggml-cpu-haswell.so"):
        (core / name).write_text(name)
    (core / "llama-server").chmod(0o755)
    (core / "libllama.so.0").symlink_to("libllama.so")
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    (plugin / "libggml-base.so").write_text("the plugin tree's own copy")
    (plugin / "libggml-vulkan.so").write_text("vulkan")
    return core.parent, plugin


def test_composes_core_links_plus_the_module(tree: tuple[Path, Path]) -> None:
    root, plugin = tree
    done = compose(plugin, root)
    assert done.returncode == 0, done.stderr
    core, variant = root / "cpu", root / "vulkan"
    assert sorted(p.name for p in variant.iterdir()) == sorted(
        [*(p.name for p in core.iterdir()), "libggml-vulkan.so"]
    )
    assert (variant / "libggml-base.so").read_text() == "libggml-base.so"  # the core's copy
    assert (variant / "libllama.so").stat().st_ino == (core / "libllama.so").stat().st_ino
    assert (variant / "libllama.so.0").is_symlink()
    assert not (core / "libggml-vulkan.so").exists()


def test_refuses_without_a_core(tree: tuple[Path, Path]) -> None:
    root, plugin = tree
    (root / "cpu" / "llama-server").unlink()
    done = compose(plugin, root)
    assert done.returncode == 1
    assert "no core in" in done.stderr


def test_refuses_a_plugin_tree_without_a_module(tree: tuple[Path, Path]) -> None:
    root, plugin = tree
    (plugin / "libggml-vulkan.so").unlink()
    done = compose(plugin, root)
    assert done.returncode == 1
    assert "no vulkan backend module" in done.stderr


def test_refuses_a_module_the_core_already_has(tree: tuple[Path, Path]) -> None:
    root, plugin = tree
    (root / "cpu" / "libggml-vulkan.so").write_text("stale")
    done = compose(plugin, root)
    assert done.returncode == 1
    assert "already in the core" in done.stderr


def test_package_makes_the_cpu_fallback_from_the_same_files(tmp_path: Path) -> None:
    """package.sh shares compose.sh's helpers (folder-lib.sh): module filter and hard links."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("llama-server", "libllama.so", "libggml-base.so", "libggml-cpu-x64.so"):
        (bin_dir / name).write_text(name)
    (bin_dir / "libggml-hip.so").write_text("hip")
    (bin_dir / "llama-server").chmod(0o755)
    root = tmp_path / "app"
    script = REPO_ROOT / "base-images" / "scripts" / "package.sh"
    done = subprocess.run(
        ["sh", str(script), str(bin_dir), str(root), "rocm"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "rocm backend modules: libggml-hip.so" in done.stdout
    fallback, variant = root / "cpu", root / "rocm"
    assert sorted(p.name for p in fallback.iterdir()) == sorted(
        p.name for p in variant.iterdir() if p.name != "libggml-hip.so"
    )
    assert (fallback / "libllama.so").stat().st_ino == (variant / "libllama.so").stat().st_ino


def test_package_names_a_missing_server_in_one_line(tmp_path: Path) -> None:
    script = REPO_ROOT / "base-images" / "scripts" / "package.sh"
    done = subprocess.run(
        ["sh", str(script), str(tmp_path), str(tmp_path / "app"), "cpu"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr == f"package.sh: {tmp_path}/llama-server was not built\n"


def test_compose_adds_the_toolkit_libraries(tree: tuple[Path, Path], tmp_path: Path) -> None:
    root, plugin = tree
    toolkit = tmp_path / "toolkit"
    toolkit.mkdir()
    for name in ("libtool.so.7", "libtool_cpu_plugin.so", "libtool_gpu_plugin.so", "libother.so"):
        (toolkit / name).write_text(name)
    (toolkit / "libtool.so").symlink_to("libtool.so.7")
    libraries = f"{toolkit}/libtool.so* {toolkit}/libtool_*_plugin.so"
    done = subprocess.run(
        ["sh", str(COMPOSE), "--libraries", libraries, str(plugin), str(root), "vulkan"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    core, variant = root / "cpu", root / "vulkan"
    added = {"libtool.so", "libtool.so.7", "libtool_cpu_plugin.so", "libtool_gpu_plugin.so"}
    assert {p.name for p in variant.iterdir()} - {p.name for p in core.iterdir()} == {
        "libggml-vulkan.so",
        *added,
    }
    assert (variant / "libtool.so").is_symlink()
    assert "core + libggml-vulkan.so + libtool.so" in done.stdout


def test_compose_names_a_toolkit_library_that_is_missing(
    tree: tuple[Path, Path], tmp_path: Path
) -> None:
    root, plugin = tree
    done = subprocess.run(
        [
            "sh",
            str(COMPOSE),
            "--libraries",
            f"{tmp_path}/libnone.so.*",
            str(plugin),
            str(root),
            "x",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr == f"compose.sh: no toolkit library matches {tmp_path}/libnone.so.*\n"


@pytest.mark.skipif(shutil.which("patchelf") is None, reason="patchelf is not installed")
def test_package_gives_toolkit_libraries_runpath_origin_and_no_fallback_copy(
    tmp_path: Path,
) -> None:
    """A wheel's library carries RPATH: the folder's copy has RUNPATH $ORIGIN only; the cpu
    fallback folder leaves the toolkit out, as it leaves out the backend module."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("llama-server", "libllama.so", "libggml-base.so", "libggml-cpu-x64.so"):
        (bin_dir / name).write_text(name)
    (bin_dir / "libggml-tool.so").write_text("tool")
    (bin_dir / "llama-server").chmod(0o755)
    toolkit = tmp_path / "toolkit"
    toolkit.mkdir()
    elf = toolkit / "libtool.so.7"
    shutil.copy(str(shutil.which("true")), elf)  # any ELF file that needs only libc
    subprocess.run(["patchelf", "--force-rpath", "--set-rpath", "/elsewhere", str(elf)], check=True)
    root = tmp_path / "app"
    script = REPO_ROOT / "base-images" / "scripts" / "package.sh"
    done = subprocess.run(
        ["sh", str(script), "--libraries", str(elf), str(bin_dir), str(root), "tool"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "toolkit libraries: libtool.so.7" in done.stdout
    dynamic = subprocess.run(
        ["readelf", "-d", str(root / "tool" / "libtool.so.7")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "(RUNPATH)            Library runpath: [$ORIGIN]" in dynamic
    assert "(RPATH)" not in dynamic
    assert not (root / "cpu" / "libtool.so.7").exists()
    assert not (root / "cpu" / "libggml-tool.so").exists()
