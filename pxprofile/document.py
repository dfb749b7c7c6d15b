"""The profile file as a document: Markdown sections with one preference per bullet.

parse() is tolerant of hand edits (any heading level, ``-``/``*``/``+`` bullets, blank lines, free
paragraphs, wrapped bullets) and render(parse(text)) == text for any text: unchanged lines keep
their original bytes. This module is pure: no database, no I/O. profile.py builds merge,
provenance and versions on top of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

DEFAULT_TITLE = "# Preference profile"
DEFAULT_SECTIONS = (
    "Communication style",
    "Expertise",
    "Interests",
    "Values and constraints",
    "Avoid",
)

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t\r]*$")
_BULLET = re.compile(r"^[ ]{0,3}([-*+])[ \t]+(.*?)[ \t\r]*$")
_FENCE = re.compile(r"^[ ]{0,3}(`{3,}|~{3,})")
_CONFLICT = re.compile(r"^(<{7}|={7}|>{7}|\|{7})(?:[ \t\r]|$)")
_CONTINUATION = re.compile(r"^(?:[ ]{2,}|\t)\S")


@dataclass
class Bullet:
    """One preference. ``raw`` holds the original line(s) while the text is unchanged."""

    text: str
    marker: str = "-"
    raw: str | None = None

    def render(self) -> str:
        if self.raw is not None and _bullet_text(self.raw) == self.text:
            return self.raw
        return f"{self.marker} {self.text}"


@dataclass
class Block:
    """Anything that is not a bullet (paragraphs, blank lines, comments): kept verbatim."""

    raw: str

    def render(self) -> str:
        return self.raw


@dataclass
class Section:
    """A heading and what follows it. Level 0: the bullets of a file that starts with bullets
    before any heading (title "", no heading line rendered)."""

    title: str
    level: int = 2
    heading_raw: str | None = None
    items: list[Bullet | Block] = field(default_factory=list)

    @property
    def bullets(self) -> list[Bullet]:
        return [i for i in self.items if isinstance(i, Bullet)]

    def render_heading(self) -> str | None:
        if self.level == 0:
            return None
        if self.heading_raw is not None:
            m = _HEADING.match(self.heading_raw)
            if m and m.group(2) == self.title:
                return self.heading_raw
        return f"{'#' * self.level} {self.title}"


@dataclass
class Document:
    preamble: list[Block] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    trailing_newline: bool = True
    newline: str = "\n"  # "\r\n" for a file saved with Windows line endings

    def section(self, title: str) -> Section | None:
        key = normalize_title(title)
        for s in self.sections:
            if normalize_title(s.title) == key:
                return s
        return None

    def bullets(self) -> list[tuple[Section, Bullet]]:
        """Every preference, in file order, with its section."""
        return [(s, b) for s in self.sections for b in s.bullets]

    def add(self, section_title: str, text: str) -> Bullet:
        """Append a bullet to a section, creating the section (at the end) if needed."""
        section = self.section(section_title)
        if section is None:
            section = Section(title=section_title, level=2, items=[Block("")])
            if self.sections or self.preamble:
                _ensure_blank_before(self.sections[-1].items if self.sections else self.preamble)
            self.sections.append(section)
        bullet = Bullet(text=text, marker=_marker_of(section))
        items = section.items
        # after the last bullet, else after the blank lines that follow the heading
        last = max((i for i, it in enumerate(items) if isinstance(it, Bullet)), default=None)
        if last is None:
            last = 0
            while last < len(items) and _is_blank(items[last]):
                last += 1
            if last == 0:
                items.insert(0, Block(""))
                last = 1
            items.insert(last, bullet)
        else:
            items.insert(last + 1, bullet)
        if items[-1] is bullet and section is not self.sections[-1]:
            items.append(Block(""))
        return bullet

    def remove(self, bullet: Bullet) -> None:
        for s in self.sections:
            for i, it in enumerate(s.items):
                if it is bullet:
                    del s.items[i]
                    return
        raise ValueError("bullet not in document")


def _is_blank(item: Bullet | Block) -> bool:
    return isinstance(item, Block) and not item.raw.strip()


def _ensure_blank_before(items: list[Bullet | Block]) -> None:
    if items and not (isinstance(items[-1], Block) and items[-1].raw.strip() == ""):
        items.append(Block(""))


def _marker_of(section: Section) -> str:
    bullets = section.bullets
    return bullets[-1].marker if bullets else "-"


def _bullet_text(raw: str) -> str:
    lines = raw.split("\n")
    m = _BULLET.match(lines[0])
    first = m.group(2) if m else lines[0].strip()
    rest = [ln.strip() for ln in lines[1:]]
    return " ".join([first, *rest]).strip(" \t")  # as the bullet pattern does: "- \xa0" keeps \xa0


def normalize_title(title: str) -> str:
    return " ".join(title.lower().split())


def parse(text: str) -> Document:
    """Parse a profile file. Never fails: whatever is not a heading or bullet is kept as a Block."""
    newline = "\r\n" if "\r\n" in text and "\n" not in text.replace("\r\n", "") else "\n"
    if newline == "\r\n":
        text = text.replace("\r\n", "\n")
    doc = Document(trailing_newline=text.endswith("\n"), newline=newline)
    lines = text.split("\n")
    if doc.trailing_newline and lines and lines[-1] == "":
        lines = lines[:-1]
    current: list[Bullet | Block] = doc.preamble
    seen_heading = False
    fence: str | None = None
    for line in lines:
        f = _FENCE.match(line)
        if f and (fence is None or (f.group(1)[0] == fence[0] and len(f.group(1)) >= len(fence))):
            fence = f.group(1) if fence is None else None
            current.append(Block(line))
            continue
        if fence is not None:
            current.append(Block(line))
            continue
        h = _HEADING.match(line)
        if h:
            level = len(h.group(1))
            if level == 1 and not seen_heading and not doc.sections:
                # the document title, not a section
                seen_heading = True
                doc.preamble.append(Block(line))
                continue
            seen_heading = True
            section = Section(title=h.group(2), level=level, heading_raw=line)
            doc.sections.append(section)
            current = section.items
            continue
        b = _BULLET.match(line)
        if b and b.group(2):
            if not doc.sections:  # bullets before any section heading: a headless list
                doc.sections.append(Section(title="", level=0))
                current = doc.sections[0].items
            current.append(Bullet(text=b.group(2), marker=b.group(1), raw=line))
            continue
        if _CONTINUATION.match(line) and current and isinstance(current[-1], Bullet):
            prev = current[-1]
            prev.raw = f"{prev.raw}\n{line}"
            prev.text = _bullet_text(prev.raw)
            continue
        current.append(Block(line))
    return doc


def render(doc: Document) -> str:
    out: list[str] = [b.render() for b in doc.preamble]
    for s in doc.sections:
        heading = s.render_heading()
        if heading is not None:
            out.append(heading)
        out.extend(it.render() for it in s.items)
    text = "\n".join(out)
    if doc.trailing_newline:
        text += "\n"
    if doc.newline != "\n":
        text = text.replace("\n", doc.newline)
    return text


def problems(text: str) -> list[str]:
    """Why ``text`` cannot be trusted as a profile (parsing it would misread the user's lines).

    Users own their file: odd wording is fine; what is refused is structure that would hide
    bullets (an unterminated code fence swallows everything after it) and unresolved merge
    conflict markers. Each reason names the line.
    """
    out: list[str] = []
    markers: list[str] = []
    fence: tuple[str, int] | None = None
    for n, line in enumerate(text.split("\n"), start=1):
        m = _FENCE.match(line)
        if m:
            mark = m.group(1)
            if fence is None:
                fence = (mark, n)
            elif mark[0] == fence[0][0] and len(mark) >= len(fence[0]):
                fence = None
            continue
        if fence is None and _CONFLICT.match(line):
            markers.append(f"line {n} is a merge conflict marker ({line[:7]})")
    if any(m.endswith("(<<<<<<<)") for m in markers):  # "=======" alone is a setext underline
        out.extend(markers)
    if fence is not None:
        out.append(f"the code fence opened on line {fence[1]} is never closed")
    if "\x00" in text:
        out.append("the file contains NUL bytes")
    return out


def new_document(sections: tuple[str, ...] = DEFAULT_SECTIONS) -> Document:
    """The empty profile pxprofile writes on first use."""
    doc = Document(preamble=[Block(DEFAULT_TITLE), Block("")])
    for title in sections:
        doc.sections.append(Section(title=title, level=2, items=[Block("")]))
    return doc
