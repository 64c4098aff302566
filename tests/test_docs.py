"""The repository stands on its own: docs/ holds the contract and every setting, links resolve,
nothing points outside the repository, the README stays short, and the architecture page names
what the tree holds."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

import pytest

from cdrstore.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SRC = ROOT / "src" / "cdrstore"


def tracked_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [ROOT / name for name in listed if (ROOT / name).is_file()]


def test_every_setting_and_variable_is_documented():
    page = (DOCS / "configuration.md").read_text()
    for field in dataclasses.fields(Settings):
        assert f"`{field.name}`" in page, field.name
        assert field.metadata["env"] in page, field.metadata["env"]
    named = set()
    for path in SRC.rglob("*.py"):
        named |= set(re.findall(r"\bCDRSTORE_[A-Z_]+\b", path.read_text()))
    for path in [*(ROOT / "tests").rglob("*.py"), *(ROOT / "bench").rglob("*.py")]:
        named |= set(re.findall(r"\bCDRSTORE_[A-Z_]+\b", path.read_text()))
    assert named, "no variable found: the scan is broken"
    assert sorted(name for name in named if name not in page) == []


def test_nothing_refers_outside_the_repository():
    outside = re.compile(r"\.\./shared|spec sections? \d|\bissue \d+\b")
    offenders = [
        str(path.relative_to(ROOT))
        for path in tracked_files()
        if path.suffix in (".py", ".md", ".toml", ".sh", ".txt", "")
        and path.name != "CHANGELOG.md"
        and outside.search(path.read_text(errors="replace"))
    ]
    assert offenders == []


def test_the_readme_is_short_and_links_every_doc():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) < 200
    for page in DOCS.glob("*.md"):
        assert f"docs/{page.name}" in readme, page.name


@pytest.mark.parametrize(
    "page", [ROOT / "README.md", *sorted(DOCS.glob("*.md"))], ids=lambda p: p.name
)
def test_local_links_resolve(page):
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
        if "://" in target or target.startswith("mailto:"):
            continue
        assert (page.parent / target).exists(), f"{page.name} links to a missing {target}"


def test_the_architecture_page_names_every_package_and_module():
    page = (DOCS / "architecture.md").read_text()
    parts = [p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()]
    parts += [p.name for p in SRC.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    assert parts
    assert sorted(name for name in parts if name.removesuffix(".py") not in page) == []


def test_licence_and_changelog_are_there():
    assert "Apache License" in (ROOT / "LICENSE").read_text()
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in changelog and "Keep a Changelog" in changelog
