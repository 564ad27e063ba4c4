"""Hostile-input tests (issue 8, item 6), and the one helper they share: a bounded atheris run."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from tests.conftest import skip_or_fail

__all__ = ["run_atheris"]

_OUTPUT_TAIL = 6000


def run_atheris(harness: str, seeds: Iterable[bytes], workdir: Path, *, seconds: int) -> None:
    """Run the atheris ``harness`` (a script calling ``atheris.Setup`` and ``atheris.Fuzz``) for
    ``seconds`` from ``seeds``, in a subprocess: libFuzzer ends its process when it stops. Fails the test
    when the harness raised, or one input ran past 10 s (a hang), with the input and the trace."""
    if importlib.util.find_spec("atheris") is None:
        skip_or_fail("atheris is not installed (pip install atheris): the coverage-guided runs did not run")
    corpus = workdir / "corpus"
    corpus.mkdir()
    for number, seed in enumerate(seeds):
        (corpus / f"seed-{number}").write_bytes(seed)
    script = workdir / "harness.py"
    script.write_text(harness)
    result = subprocess.run(
        [
            sys.executable,
            str(script),
            str(corpus),
            f"-max_total_time={seconds}",
            "-timeout=10",
            f"-artifact_prefix={workdir}/",
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        check=False,
    )
    findings = sorted(
        path.name for path in workdir.glob("*-*") if path.name.startswith(("crash", "timeout", "oom"))
    )
    assert result.returncode == 0 and not findings, f"{findings}\n{result.stderr[-_OUTPUT_TAIL:]}"
