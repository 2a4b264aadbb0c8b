"""Find reviewers' marks inside uploaded files: comments and tracked changes in DOCX, comments in XLSX,
annotations in PDF.

The files come from outside, so the readers defend themselves. An OOXML package is a ZIP archive: its
entry count and its uncompressed size are capped, counting the bytes actually inflated rather than the
sizes the archive declares. Its XML is parsed with defusedxml with DTDs forbidden, so entity expansion
("billion laughs") and external entities fail instead of running. PDFs are read with pypdf, and any
error of the parser makes the file not inspectable rather than clean.
"""

from __future__ import annotations

import logging
import posixpath
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeElementTree
from defusedxml import DefusedXmlException
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from contracts.documents import FindingKind, FindingState
from services.documents.errors import FileNotInspectable, UnsupportedMediaType

logger = logging.getLogger(__name__)

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
PDF = "application/pdf"
INSPECTED_MEDIA_TYPES = frozenset({DOCX, XLSX, PPTX, PDF})

#: A version's findings travel in its document's events, so a file full of marks lists only this many.
MAX_FINDINGS = 100
_TEXT_CHARS = 200
_READ_CHUNK = 64 * 1024

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_S = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_TC = "{http://schemas.microsoft.com/office/spreadsheetml/2018/threadedcomments}"
_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_DOC_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"

# Word's revision marks, by the kind of change they record.
_DOCX_CHANGES: dict[str, FindingKind] = {
    f"{_W}ins": "insertion",
    f"{_W}del": "deletion",
    f"{_W}cellIns": "insertion",
    f"{_W}cellDel": "deletion",
    f"{_W}moveFrom": "move",
    f"{_W}moveTo": "move",
    f"{_W}rPrChange": "formatting_change",
    f"{_W}pPrChange": "formatting_change",
    f"{_W}sectPrChange": "formatting_change",
    f"{_W}tblPrChange": "formatting_change",
    f"{_W}trPrChange": "formatting_change",
    f"{_W}tcPrChange": "formatting_change",
    f"{_W}tblGridChange": "formatting_change",
    f"{_W}numberingChange": "formatting_change",
}
# Parts of a DOCX that contain visible text: the body, headers, footers, footnotes and endnotes.
_DOCX_STORY = re.compile(r"^word/(document|header\d*|footer\d*|footnotes|endnotes)\.xml$")

# Annotations that are not reviewers' marks: links, form fields, and the pop-up window that belongs to
# a markup annotation (the markup annotation itself is reported).
_PDF_IGNORED_SUBTYPES = frozenset({"Link", "Widget", "Popup"})


@dataclass(frozen=True)
class InspectionLimits:
    """Caps that keep a hostile archive from exhausting memory or time."""

    max_unpacked_bytes: int
    max_members: int


def check_content(path: Path, media_type: str) -> None:
    """Raise :class:`UnsupportedMediaType` when the content is plainly not of the declared type."""
    with path.open("rb") as handle:
        head = handle.read(1024)
    if media_type == PDF and b"%PDF-" not in head:
        raise UnsupportedMediaType("content is not a PDF: no %PDF- header in its first 1024 bytes", media_type=PDF)
    if media_type in (DOCX, XLSX, PPTX, "application/zip") and not zipfile.is_zipfile(path):
        raise UnsupportedMediaType(
            f"content is not a ZIP archive, so it cannot be {media_type}",
            media_type=media_type,
        )


def inspect_file(path: Path, media_type: str, limits: InspectionLimits) -> list[FindingState]:
    """Return the comments, tracked changes and annotations inside the file, or [] for other types."""
    check_content(path, media_type)
    if media_type == PDF:
        findings = _inspect_pdf(path)
    elif media_type in (DOCX, XLSX, PPTX):
        with _Package(path, limits) as package:
            if media_type == DOCX:
                findings = _inspect_docx(package)
            elif media_type == XLSX:
                findings = _inspect_xlsx(package)
            else:
                findings = _inspect_pptx(package)
    else:
        return []
    return _cap(findings)


def describe(finding: FindingState) -> str:
    """Format a finding as one human-readable line: what was found and where."""
    where = f"in {finding.part}, {finding.location}" if finding.part else f"on {finding.location}"
    words = {
        "comment": "comment",
        "threaded_comment": "threaded comment",
        "insertion": "tracked insertion",
        "deletion": "tracked deletion",
        "move": "tracked move",
        "formatting_change": "tracked formatting change",
        "revision_log": "revision log of a shared workbook",
        "annotation": f"{finding.subtype or 'PDF'} annotation",
    }
    line = f"{words[finding.kind]} {where}"
    if finding.author:
        line += f" by {finding.author}"
    return line


def _cap(findings: list[FindingState]) -> list[FindingState]:
    if len(findings) <= MAX_FINDINGS:
        return findings
    rest = len(findings) - (MAX_FINDINGS - 1)
    summary = findings[MAX_FINDINGS - 1].model_copy(
        update={"location": f"and {rest} more marks not listed", "text": None, "author": None}
    )
    return [*findings[: MAX_FINDINGS - 1], summary]


def _clip(text: str | None) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    return text[:_TEXT_CHARS] or None


class _Package:
    """Read-only view of an OOXML package that enforces :class:`InspectionLimits` on every read."""

    def __init__(self, path: Path, limits: InspectionLimits) -> None:
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise FileNotInspectable(f"the archive is damaged: {exc}") from exc
        self._budget = limits.max_unpacked_bytes
        self._limit = limits.max_unpacked_bytes
        infos = self._zip.infolist()
        if len(infos) > limits.max_members:
            self._zip.close()
            raise FileNotInspectable(
                f"the archive has {len(infos)} entries, more than the limit of {limits.max_members}",
                max_members=limits.max_members,
            )
        declared = sum(info.file_size for info in infos)
        if declared > limits.max_unpacked_bytes:
            self._zip.close()
            raise FileNotInspectable(
                f"the archive unpacks to {declared} bytes, more than the limit of {self._limit} bytes",
                max_unpacked_bytes=self._limit,
            )
        self.names = [info.filename for info in infos]

    def __enter__(self) -> _Package:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._zip.close()

    def read(self, name: str) -> bytes | None:
        """Return the part's bytes, or None if the package has no such part."""
        try:
            member = self._zip.open(name)
        except KeyError:
            return None
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError) as exc:
            raise FileNotInspectable(f"part {name} cannot be read: {exc}", part=name) from exc
        chunks: list[bytes] = []
        with member:
            # Count what is really inflated: the sizes in the archive's directory can be forged.
            while True:
                try:
                    chunk = member.read(min(_READ_CHUNK, self._budget + 1))
                except (zipfile.BadZipFile, OSError, EOFError) as exc:
                    raise FileNotInspectable(f"part {name} cannot be read: {exc}", part=name) from exc
                if not chunk:
                    break
                self._budget -= len(chunk)
                if self._budget < 0:
                    raise FileNotInspectable(
                        f"the archive unpacks to more than the limit of {self._limit} bytes",
                        max_unpacked_bytes=self._limit,
                    )
                chunks.append(chunk)
        return b"".join(chunks)

    def xml(self, name: str) -> Element | None:
        """Return the part parsed safely, or None if the package has no such part."""
        data = self.read(name)
        if data is None:
            return None
        try:
            root: Element = SafeElementTree.fromstring(data, forbid_dtd=True)
        except (DefusedXmlException, ParseError) as exc:
            raise FileNotInspectable(f"part {name} is not safe, well-formed XML: {exc}", part=name) from exc
        return root

    def relationships(self, part: str) -> dict[str, tuple[str, str]]:
        """Return the part's relationships: id to (type, target part name)."""
        folder, file_name = posixpath.split(part)
        root = self.xml(posixpath.join(folder, "_rels", file_name + ".rels"))
        if root is None:
            return {}
        found: dict[str, tuple[str, str]] = {}
        for relation in root.iter(f"{_PKG_REL}Relationship"):
            if relation.get("TargetMode") == "External":
                continue
            target = relation.get("Target", "")
            resolved = (
                target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
            )
            found[relation.get("Id", "")] = (relation.get("Type", ""), resolved)
        return found


def _text_of(element: Element, *tags: str) -> str:
    return "".join(node.text or "" for node in element.iter() if node.tag in tags)


def _walk_with_paragraphs(root: Element) -> Iterator[tuple[Element, int]]:
    """Yield each element with the number of the paragraph it is in (or last passed), counting from 1."""
    paragraph = 0
    stack: list[Element] = [root]
    while stack:
        element = stack.pop()
        if element.tag == f"{_W}p":
            paragraph += 1
        yield element, paragraph
        stack.extend(reversed(list(element)))


def _inspect_docx(package: _Package) -> list[FindingState]:
    findings: list[FindingState] = []
    anchors: dict[str, tuple[str, int]] = {}

    for part in sorted(name for name in package.names if _DOCX_STORY.match(name)):
        root = package.xml(part)
        if root is None:
            continue
        for element, paragraph in _walk_with_paragraphs(root):
            if element.tag in (f"{_W}commentRangeStart", f"{_W}commentReference"):
                anchors.setdefault(element.get(f"{_W}id", ""), (part, paragraph))
            kind = _DOCX_CHANGES.get(element.tag)
            if kind is None:
                continue
            text = _text_of(element, f"{_W}t", f"{_W}delText") if kind != "formatting_change" else None
            findings.append(
                FindingState(
                    kind=kind,
                    part=part,
                    location=f"paragraph {paragraph}" if paragraph else "before the first paragraph",
                    author=element.get(f"{_W}author"),
                    text=_clip(text),
                )
            )

    comments = package.xml("word/comments.xml")
    if comments is not None:
        for comment in comments.iter(f"{_W}comment"):
            comment_id = comment.get(f"{_W}id", "")
            part, paragraph = anchors.get(comment_id, ("word/comments.xml", 0))
            location = f"paragraph {paragraph}" if paragraph else f"comment {comment_id}, not anchored in the text"
            findings.append(
                FindingState(
                    kind="comment",
                    part=part,
                    location=location,
                    author=comment.get(f"{_W}author"),
                    text=_clip(_text_of(comment, f"{_W}t")),
                )
            )
    return findings


def _inspect_xlsx(package: _Package) -> list[FindingState]:
    findings: list[FindingState] = []
    seen_parts: set[str] = set()
    workbook = package.xml("xl/workbook.xml")
    workbook_rels = package.relationships("xl/workbook.xml")

    sheets = [] if workbook is None else list(workbook.iter(f"{_S}sheet"))
    for sheet in sheets:
        name = sheet.get("name", "?")
        relation = workbook_rels.get(sheet.get(f"{_DOC_REL}id", ""))
        if relation is None:
            continue
        for rel_type, target in package.relationships(relation[1]).values():
            if rel_type.endswith("/threadedComment"):
                findings.extend(_threaded_comments(package, target, f"sheet '{name}'"))
                seen_parts.add(target)
            elif rel_type.endswith("/comments"):
                findings.extend(_legacy_comments(package, target, f"sheet '{name}'"))
                seen_parts.add(target)

    # A comments part that no sheet links to is still in the file, and a client can unzip it.
    for part in sorted(set(package.names) - seen_parts):
        if re.match(r"^xl/comments\d*\.xml$", part):
            findings.extend(_legacy_comments(package, part, "an unlinked comments part"))
        elif part.startswith("xl/threadedComments/") and part.endswith(".xml"):
            findings.extend(_threaded_comments(package, part, "an unlinked comments part"))
        elif part.startswith("xl/revisions/") and part.endswith(".xml"):
            findings.append(FindingState(kind="revision_log", part=part, location="shared workbook revisions"))

    # Excel writes a legacy placeholder comment beside every threaded one; report the cell once.
    threaded = {(f.location, f.kind) for f in findings if f.kind == "threaded_comment"}
    return [f for f in findings if f.kind != "comment" or (f.location, "threaded_comment") not in threaded]


def _legacy_comments(package: _Package, part: str, sheet: str) -> list[FindingState]:
    root = package.xml(part)
    if root is None:
        return []
    authors = [author.text or "" for author in root.iter(f"{_S}author")]
    found = []
    for comment in root.iter(f"{_S}comment"):
        author_index = comment.get("authorId", "")
        author = authors[int(author_index)] if author_index.isdigit() and int(author_index) < len(authors) else None
        found.append(
            FindingState(
                kind="comment",
                part=part,
                location=f"{sheet} cell {comment.get('ref', '?')}",
                author=author or None,
                text=_clip(_text_of(comment, f"{_S}t")),
            )
        )
    return found


def _threaded_comments(package: _Package, part: str, sheet: str) -> list[FindingState]:
    root = package.xml(part)
    if root is None:
        return []
    return [
        FindingState(
            kind="threaded_comment",
            part=part,
            location=f"{sheet} cell {comment.get('ref', '?')}",
            author=comment.get("personId"),
            text=_clip(_text_of(comment, f"{_TC}text")),
        )
        for comment in root.iter(f"{_TC}threadedComment")
    ]


def _inspect_pptx(package: _Package) -> list[FindingState]:
    # NOTE: slides' comments are found per part, without the slide number or the comment's text.
    return [
        FindingState(kind="comment", part=part, location="slide comments")
        for part in sorted(package.names)
        if part.startswith("ppt/comments/") and part.endswith(".xml")
    ]


def _inspect_pdf(path: Path) -> list[FindingState]:
    try:
        reader = PdfReader(path, strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise FileNotInspectable("the PDF is encrypted with a password, so its annotations cannot be read")
        return [
            finding for number, page in enumerate(reader.pages, start=1) for finding in _page_annotations(page, number)
        ]
    except FileNotInspectable:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, RecursionError, OSError) as exc:
        # pypdf raises many kinds of errors on damaged input; any of them leaves the file unchecked.
        raise FileNotInspectable(f"the PDF cannot be read: {type(exc).__name__}: {exc}") from exc


def _page_annotations(page: Any, number: int) -> list[FindingState]:
    annotations = page.get("/Annots")
    if annotations is None:
        return []
    found = []
    for reference in annotations.get_object():
        annotation = reference.get_object()
        subtype = str(annotation.get("/Subtype", "/Unknown")).lstrip("/")
        if subtype in _PDF_IGNORED_SUBTYPES:
            continue
        author = annotation.get("/T")
        contents = annotation.get("/Contents")
        found.append(
            FindingState(
                kind="annotation",
                location=f"page {number}",
                page=number,
                subtype=subtype,
                author=str(author) if author is not None else None,
                text=_clip(str(contents)) if contents is not None else None,
            )
        )
    return found
