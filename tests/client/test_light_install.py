"""`pip install yotel` (no extras) is the SDK alone: nothing server-side is imported or needed."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVER_MODULES = ["fastapi", "sqlalchemy", "uvicorn", "alembic", "asyncpg", "aiosqlite", "redis",
                  "numpy", "miniaudio", "starlette", "pydantic_settings"]

CHECK = f"""
import sys, yotel
from yotel import Yotel, AsyncYotel
Yotel(api_key="yt_live_x").close()
loaded = [m for m in {SERVER_MODULES!r} if m in sys.modules]
assert not loaded, loaded
print("ok")
"""


def test_import_yotel_loads_no_server_module() -> None:
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True,
                         timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


@pytest.mark.slow
@pytest.mark.timeout(480)  # a venv and a pip install from the index: minutes on a busy machine
def test_fresh_venv_without_extras_has_only_the_sdk(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", str(ROOT)],
                             capture_output=True, text=True, timeout=400, check=False)
    assert install.returncode == 0, install.stderr[-2000:]
    out = subprocess.run([str(python), "-c", CHECK], capture_output=True, text=True, timeout=60,
                         check=False)
    assert out.returncode == 0, out.stderr
    missing = subprocess.run(
        [str(python), "-c", "import importlib.util as u; "
         "print([m for m in ('fastapi','sqlalchemy','uvicorn','asyncpg') if u.find_spec(m)])"],
        capture_output=True, text=True, timeout=60, check=False)
    assert missing.stdout.strip() == "[]"


CLIENT_DIR = ROOT / "src" / "yotel" / "client"
ALLOWED_THIRD_PARTY = {"httpx", "pydantic", "websockets"}


def _imports(path: Path) -> set[str]:
    import ast

    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_client_package_imports_only_itself_the_stdlib_and_light_dependencies() -> None:
    files = sorted(CLIENT_DIR.rglob("*.py"))
    assert len(files) >= 8
    for path in files:
        for name in _imports(path):
            top = name.split(".")[0]
            if top == "yotel":
                assert name.startswith("yotel.client"), f"{path.name} imports {name}"
            else:
                assert top in ALLOWED_THIRD_PARTY or top in sys.stdlib_module_names or \
                    top == "__future__", f"{path.name} imports {name}"
