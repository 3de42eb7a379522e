"""The public library facade: `import sealer` gives real signatures to mypy and IDEs, paths
may be str or os.PathLike, and every exported name exists."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sealing import new_identity

import sealer
from sealer.core import seal

ROOT = Path(__file__).resolve().parent.parent


def test_every_export_resolves_and_all_is_complete() -> None:
    from sealer import _EXPORTS

    assert set(sealer.__all__) == {"__version__", *_EXPORTS}
    for name in sealer.__all__:
        assert getattr(sealer, name) is not None, name
    assert issubclass(sealer.PolicyError, sealer.SealerError)
    assert issubclass(sealer.SignatureError, sealer.IntegrityError)
    assert issubclass(sealer.AuditError, sealer.SealerError)


def test_paths_may_be_str_or_pathlike(tmp_path: Path) -> None:
    identity, recipient = new_identity()
    file = tmp_path / "a.sealed.yaml"
    file.write_text(seal({"k": "v", "n": {"x": 1}}, recipients=[recipient],
                         source=str(file)).to_yaml())
    assert sealer.get_value(str(file), "k", [identity]) == "v"
    assert sealer.get_value(file, "n.x", [identity]) == 1
    assert sealer.unseal_file(str(file), [identity]) == {"k": "v", "n": {"x": 1}}
    sealer.set_value(str(file), "k", "w", [identity])
    assert sealer.show_file(str(file))["data"]["k"] == "<str, encrypted>"
    assert sealer.load(str(file), [identity])["k"] == "w"
    with pytest.raises(TypeError, match="expected a path"):
        sealer.get_value(123, "k", [identity])  # type: ignore[arg-type]


def test_mypy_sees_the_real_signatures(tmp_path: Path) -> None:
    snippet = tmp_path / "snippet.py"
    snippet.write_text(
        "import sealer\n"
        "from pathlib import Path\n"
        "value = sealer.get_value('a.sealed.yaml', 'k')\n"
        "other = sealer.get_value(Path('a.sealed.yaml'), 'k')\n"
        "bad = sealer.get_value(123, 'k')\n"
        "written: sealer.Written = sealer.set_value('a.sealed.yaml', 'k', 'v')\n"
        "try:\n    pass\nexcept sealer.PolicyError as exc:\n    print(exc.hint)\n")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir",
         str(tmp_path / "cache"), str(snippet)],
        capture_output=True, text=True, cwd=ROOT, check=False)
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1, result.stdout
    assert "snippet.py:5:" in errors[0] and 'incompatible type "int"' in errors[0]
