"""The sans-IO core imports no aiohttp (nor anything that does), checked in a fresh
interpreter so no other test's imports can hide one."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import shimgw.contracts
import shimgw.routing
import shimgw.translate

CORE = sorted(
    {
        "shimgw.config",
        "shimgw.configvalues",
        "shimgw.shadow.compare",
        *(
            f"{package.__name__}.{info.name}"
            for package in (shimgw.translate, shimgw.contracts, shimgw.routing)
            for info in pkgutil.iter_modules(package.__path__)
        ),
    }
)


def test_the_core_modules_import_no_aiohttp() -> None:
    assert len(CORE) > 10  # the packages were found
    program = (
        "import importlib, sys\n"
        f"for name in {CORE!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m == 'aiohttp' or m.startswith('aiohttp.')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]", f"aiohttp imported by the core: {out}"
