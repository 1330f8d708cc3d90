"""The import-linter contracts in setup.cfg hold (api -> service -> meta/blobs; no falcon below api;
storage nodes independent of the gateway; no import cycles at any level)."""
import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def lint_imports(*args: str, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "lint-imports"
    cmd = [str(exe)] if exe.exists() else [shutil.which("lint-imports") or "lint-imports"]
    # --no-cache: the cache's module times are shared between configurations, so a run with
    # another config can leave this one's cached imports stale (seen: a fixed cycle still reported)
    return subprocess.run([*cmd, "--no-cache", *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env=env)


def test_import_contracts_kept():
    r = lint_imports()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout
    assert "no import cycles" in r.stdout      # the acyclic contract is one of them


def test_the_acyclic_contract_breaks_on_a_cycle_at_any_depth(tmp_path):
    """setup.cfg's acyclic contract, applied to a package with one cycle between two sibling
    modules two levels down (through a function-level import) and one between two sibling
    packages (module to module, through different modules of each): both are reported."""
    contract = configparser.ConfigParser()
    contract.read(ROOT / "setup.cfg")
    acyclic = contract["importlinter:contract:acyclic"]
    files = {
        "cyclic/__init__.py": "",
        "cyclic/deep/__init__.py": "",
        "cyclic/deep/inner/__init__.py": "",
        "cyclic/deep/inner/a.py": "from cyclic.deep.inner import b\n",
        "cyclic/deep/inner/b.py": "def later():\n    from cyclic.deep.inner import a\n    return a\n",
        "cyclic/x/__init__.py": "",
        "cyclic/x/m.py": "from cyclic.y import n\n",
        "cyclic/x/k.py": "",
        "cyclic/y/__init__.py": "",
        "cyclic/y/n.py": "",
        "cyclic/y/o.py": "from cyclic.x import k\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    config = tmp_path / "importlinter.ini"
    config.write_text(f"[importlinter]\nroot_packages =\n    cyclic\n\n[importlinter:contract:acyclic]\n"
                      f"name = {acyclic['name']}\ntype = {acyclic['type']}\nancestors =\n    cyclic\n")
    r = lint_imports(str(config), cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert r.returncode == 1, r.stdout + r.stderr
    broken = {line.strip() for line in r.stdout.splitlines()}
    assert "No cycles are allowed in cyclic.deep.inner." in broken, r.stdout
    assert "No cycles are allowed in cyclic." in broken, r.stdout
    (tmp_path / "cyclic/y/o.py").write_text("")                        # break both cycles: kept
    (tmp_path / "cyclic/deep/inner/b.py").write_text("")
    r = lint_imports(str(config), cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert r.returncode == 0, r.stdout + r.stderr
