"""schemathesis against `/openapi.json` with ALL its checks (plus ours in `schemathesis_hooks.py`),
on a real uvicorn on 127.0.0.1, on the backend the suite is configured for (SQLite, or PostgreSQL
with `YOTEL_TEST_DATABASE_URL`): every status an operation returns is documented, schema-valid
requests are accepted, schema-invalid ones refused with a 4xx, responses match their schemas,
nothing is a 500, and no error quotes the request.

Every check is on by schemathesis's default; `schemathesis.toml` beside this file lists the few
per-operation exceptions still pending (naming `--checks all` on the command line would override
that file). The seed is random (printed on failure; `YOTEL_SCHEMATHESIS_SEED` replays one). To stay
well under a minute on two cores the examples per operation are bounded
(`YOTEL_SCHEMATHESIS_EXAMPLES`, default 3) and the phases are examples, fuzzing and stateful; the
coverage phase (boundary values of every keyword, about 3 000 more requests, minutes here) runs
with `YOTEL_SCHEMATHESIS_PHASES=examples,coverage,fuzzing,stateful`.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from pathlib import Path
from typing import Any

import pytest

from yotel.domain.scopes import API_KEY_SCOPES

HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
CONFIG = Path(__file__).with_name("schemathesis.toml")
EXAMPLES = int(os.environ.get("YOTEL_SCHEMATHESIS_EXAMPLES", "3"))
PHASES = os.environ.get("YOTEL_SCHEMATHESIS_PHASES", "examples,fuzzing,stateful")
RUN_TIMEOUT_S = float(os.environ.get("YOTEL_SCHEMATHESIS_TIMEOUT_S", "110"))


@pytest.mark.timeout(RUN_TIMEOUT_S + 10)
async def test_schemathesis_all_checks(api_url: str, make_tenant_key: Any,
                                       tmp_path: Path) -> None:
    key = await make_tenant_key(*sorted(API_KEY_SCOPES))
    seed = os.environ.get("YOTEL_SCHEMATHESIS_SEED") or str(secrets.randbits(64))
    command = [
        str(Path(sys.executable).with_name("schemathesis")), "--config-file", str(CONFIG),
        "run", f"{api_url}/openapi.json", "--header", f"Authorization: Bearer {key.key}",
        "--phases", PHASES, "--max-examples", str(EXAMPLES), "--seed", seed, "--workers", "2",
        "--request-timeout", "10", "--no-color",
        "--report", "junit", "--report-dir", str(tmp_path),
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS)}
    process = await asyncio.create_subprocess_exec(
        *command, env=env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    try:
        output, _ = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"schemathesis did not finish in {RUN_TIMEOUT_S} s (seed {seed})")
    text = output.decode(errors="replace")
    assert process.returncode == 0, f"seed {seed}\n{text[-12000:]}"
    assert "failures" not in text.splitlines()[-1] and " passed" in text, text[-2000:]
