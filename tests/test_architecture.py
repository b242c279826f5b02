"""The package rules of docs/architecture.md, checked on the source: every module under src/ parsed with ``ast``."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
# docs/architecture.md's picture, top to bottom: a package imports only packages drawn before it (utils is the base).
ORDER = ["utils", "video", "faces", "preprocess", "datamodules", "models", "inference", "score", "sbi", "demo"]
STAGES = {"__init__", "probe", "detect", "track", "extract", "index", "runner"}
# The one module that knows where conf/ lives (src.utils.paths.CONF_DIR, used by compose_config); entry points name it
# only as Hydra's config_path.
CONF_HOME = SRC / "utils" / "paths.py"
MODULES = sorted(SRC.rglob("*.py"))
TESTS = Path(__file__).resolve().parent


def package(path: Path) -> str:
    return path.relative_to(SRC).parts[0].removesuffix(".py")


def later_imports(tree: ast.AST, own: str) -> list[str]:
    """``line: module`` of every import of a package drawn after ``own``."""
    later = set(ORDER[ORDER.index(own) + 1 :])
    found = []
    for node in ast.walk(tree):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        found += [f"{node.lineno}: {n}" for n in names if n.startswith("src.") and n.split(".")[1] in later]
    return found


def sys_path_lines(tree: ast.AST) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr == "path" and getattr(node.value, "id", None) == "sys"
    ]


def conf_paths(tree: ast.AST) -> list[str]:
    """String constants naming ``conf/`` as a path, except docstrings and Hydra's ``config_path=``."""
    scopes = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    skip = {
        id(n.body[0].value)
        for n in ast.walk(tree)
        if isinstance(n, scopes) and n.body and isinstance(n.body[0], ast.Expr)
    }
    skip |= {
        id(k.value) for n in ast.walk(tree) if isinstance(n, ast.Call) for k in n.keywords if k.arg == "config_path"
    }
    return [
        f"{node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
        if re.search(r"(^|/)conf(/|$)", node.value)
    ]


def imports_of_test_modules(tree: ast.AST) -> list[str]:
    """``line: module`` of every import of a test module or conftest (pytest owns those; shared code goes to
    tests/helpers.py and the other ``*_helpers`` modules). A relative import counts as one from ``tests``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = ".".join(filter(None, ["tests" if node.level else None, node.module]))
            names = [f"tests.{a.name}" for a in node.names] if module == "tests" else [module]
        else:
            continue
        found += [f"{node.lineno}: {n}" for n in names if re.fullmatch(r"(tests\.)?(test_\w+|conftest)(\..*)?", n)]
    return found


def test_every_package_is_drawn():
    packages = {package(path) for path in MODULES} - {"__init__"}
    assert packages == set(ORDER), "a new package under src/ needs its box in docs/architecture.md and in ORDER"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_a_module_follows_the_package_rules(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    own = package(path)
    if own in ORDER:
        wrong = later_imports(tree, own)
        assert not wrong, f"{path.relative_to(SRC)} imports a package drawn after {own}: {wrong}"
    assert not sys_path_lines(tree), f"{path.relative_to(SRC)} touches sys.path: import the package instead"
    if path != CONF_HOME:
        named = conf_paths(tree)
        assert not named, f"{path.relative_to(SRC)} names conf/ ({named}): use src.utils.config.compose_config"


def test_preprocess_holds_only_the_stages_and_their_runner():
    found = {path.stem for path in (SRC / "preprocess").rglob("*.py")}
    assert found <= STAGES, (
        f"not a stage: {sorted(found - STAGES)} (shared code goes to src/video, src/faces, src/utils)"
    )


def test_no_test_module_imports_another():
    wrong = {
        path.name: found
        for path in sorted(TESTS.glob("*.py"))
        if (found := imports_of_test_modules(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert not wrong, (
        f"test modules importing a test module or conftest (move shared code to a helpers module): {wrong}"
    )


@pytest.mark.parametrize("path", sorted((SRC.parent / "bench").glob("*.py")), ids=lambda p: p.name)
def test_every_project_name_a_benchmark_imports_exists(path: Path):
    """Benchmarks run by hand, rarely: a moved or renamed function must fail here, not in front of their user
    (imports inside functions included)."""
    import importlib

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("src", "bench"):
            module = importlib.import_module(node.module)
            missing = [a.name for a in node.names if not hasattr(module, a.name)]
            assert not missing, f"{path.name}:{node.lineno}: {node.module} has no {missing}"


def test_the_rules_catch_what_they_look_for():
    """A rule that can never fail checks nothing: each finder flags a planted violation and passes a clean module."""
    bad = ast.parse(
        '"""About conf/train.yaml."""\nimport sys\nsys.path.insert(0, "x")\nfrom src.demo.run import x\n'
        'import src.models.export\ncfg = load(ROOT / "conf" / "x.yaml")\n'
        '@hydra.main(config_path="../conf")\ndef f(): ...\n'
    )
    assert later_imports(bad, "inference") == ["4: src.demo.run"]
    assert later_imports(bad, "faces") == ["4: src.demo.run", "5: src.models.export"]
    assert sys_path_lines(bad) == [3]
    assert conf_paths(bad) == ["6: 'conf'"]
    clean = ast.parse('"""conf/ is named here only."""\nfrom src.utils.config import compose_config\n')
    assert not later_imports(clean, "video") and not sys_path_lines(clean) and not conf_paths(clean)
    planted = ast.parse(
        "from tests.test_video import x\nimport tests.conftest\nfrom tests import conftest, helpers\n"
        "from .test_pairs import y\nfrom conftest import z\nfrom tests.helpers import REPO_ROOT\n"
        "from tests.predict_helpers import rows\n"
    )
    assert imports_of_test_modules(planted) == [
        "1: tests.test_video", "2: tests.conftest", "3: tests.conftest", "4: tests.test_pairs", "5: conftest"
    ]  # fmt: skip
