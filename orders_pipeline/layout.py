"""The landing folder's layout, checked before a run does any work (issue 16): the pipeline
reads only ``<landing>/<source>/`` folders (docs/semantics.md §1), so a file at the landing
root or a misspelt folder (``odp_event/``) would otherwise be ignored without a word and the
run would "succeed" with 0 records."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from orders_pipeline.config import ConfigError


@dataclass(frozen=True)
class LandingLayout:
    """What the landing root holds: the source folders the pipeline reads, and the entries
    it never reads (folders with another name, files), by name."""

    recognised: tuple[str, ...]
    unknown_folders: tuple[str, ...]
    root_files: tuple[str, ...]
    expected: tuple[str, ...]

    def warnings(self) -> list[str]:
        """One line per entry that is not read, naming the folders that are."""
        expected = ", ".join(f"{name}/" for name in self.expected)
        return [
            f"landing: {name}/ is not a source folder and is not read (source folders: {expected})"
            for name in self.unknown_folders
        ] + [
            f"landing: {name} is at the landing root and is not read; put it in its source's "
            f"folder ({expected})"
            for name in self.root_files
        ]


def check_landing_layout(landing_dir: Path, sources: Iterable[str]) -> LandingLayout:
    """The layout of ``landing_dir``; raise :class:`ConfigError` when it is not a folder or
    holds no source folder at all (nothing could ever be read: a wrong path or layout).
    Hidden entries (a writer's temporary names, ``.DS_Store``) are not reported."""
    expected = tuple(sorted(sources))
    if not landing_dir.is_dir():
        raise ConfigError(
            f"the landing folder {landing_dir} does not exist or is not a folder "
            "(set ORDERS_LANDING_DIR or pass --landing)"
        )
    recognised, unknown, files = [], [], []
    for entry in sorted(landing_dir.iterdir(), key=lambda p: p.name):
        if entry.name.startswith("."):
            continue
        if entry.name in expected:
            recognised.append(entry.name)
        elif entry.is_dir():
            unknown.append(entry.name)
        else:
            files.append(entry.name)
    if not recognised:
        found = ", ".join([*(f"{n}/" for n in unknown), *files]) or "nothing"
        raise ConfigError(
            f"the landing folder {landing_dir} has no source folder (expected one or more of "
            f"{', '.join(f'{n}/' for n in expected)}; found {found})"
        )
    return LandingLayout(tuple(recognised), tuple(unknown), tuple(files), expected)
