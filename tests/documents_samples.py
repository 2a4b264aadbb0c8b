"""Real DOCX, XLSX and PDF files for the documents tests, built from hand-written OOXML and with pypdf."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from typing import Any

from pypdf import PdfWriter
from pypdf.annotations import FreeText, Highlight, Link, Text
from pypdf.generic import ArrayObject, FloatObject, NameObject, TextStringObject

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
S_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
R_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PDF_TYPE = "application/pdf"


def _zip(parts: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            # A fixed timestamp makes equal arguments build equal bytes, so tests can compare hashes.
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 12, 1, 0, 0, 0)), content, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _paragraph(text: str) -> str:
    return f'<w:p><w:r><w:t xml:space="preserve">{text}</w:t></w:r></w:p>'


def docx(
    paragraphs: list[str] | None = None,
    *,
    comment_on: int | None = None,
    insertion_in: int | None = None,
    deletion_in: int | None = None,
    move_in: int | None = None,
    extra_parts: Mapping[str, str | bytes] | None = None,
) -> bytes:
    """Build a DOCX; the keyword arguments put a comment or a tracked change into that paragraph (1-based)."""
    paragraphs = paragraphs or ["Договор № 12", "Стороны договорились о следующем.", "Оплата в течение 5 дней."]
    body: list[str] = []
    for number, text in enumerate(paragraphs, start=1):
        runs = f'<w:r><w:t xml:space="preserve">{text}</w:t></w:r>'
        if comment_on == number:
            runs = (
                f'<w:commentRangeStart w:id="0"/>{runs}<w:commentRangeEnd w:id="0"/>'
                '<w:r><w:commentReference w:id="0"/></w:r>'
            )
        if insertion_in == number:
            runs += '<w:ins w:id="1" w:author="Olga" w:date="2026-12-01T10:00:00Z"><w:r><w:t>added</w:t></w:r></w:ins>'
        if deletion_in == number:
            runs += (
                '<w:del w:id="2" w:author="Ivan" w:date="2026-12-01T10:00:00Z">'
                "<w:r><w:delText>removed</w:delText></w:r></w:del>"
            )
        if move_in == number:
            runs += '<w:moveTo w:id="3" w:author="Olga"><w:r><w:t>moved here</w:t></w:r></w:moveTo>'
        body.append(f"<w:p>{runs}</w:p>")

    document = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<w:document xmlns:w="{W_NS}" xmlns:r="{R_NS}"><w:body>{"".join(body)}<w:sectPr/></w:body></w:document>'
    )
    content_types = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/word/document.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
        "</Types>"
    )
    parts: dict[str, str | bytes] = {
        "[Content_Types].xml": content_types,
        "_rels/.rels": (
            f'<Relationships xmlns="{PKG_REL_NS}">'
            f'<Relationship Id="rId1" Type="{REL}/officeDocument" Target="word/document.xml"/></Relationships>'
        ),
        "word/document.xml": document,
    }
    if comment_on is not None:
        parts["word/comments.xml"] = (
            f'<w:comments xmlns:w="{W_NS}"><w:comment w:id="0" w:author="Olga" w:initials="O">'
            f"{_paragraph('Do not show the client our margin')}</w:comment></w:comments>"
        )
        parts["word/_rels/document.xml.rels"] = (
            f'<Relationships xmlns="{PKG_REL_NS}">'
            f'<Relationship Id="rId9" Type="{REL}/comments" Target="comments.xml"/></Relationships>'
        )
    parts.update(extra_parts or {})
    return _zip(parts)


def xlsx(*, comment_cell: str | None = None, threaded_cell: str | None = None, sheet_name: str = "Prices") -> bytes:
    """Build an XLSX with one sheet; optionally a legacy comment and a threaded comment on those cells."""
    sheet_rels: list[str] = []
    parts: dict[str, str | bytes] = {
        "[Content_Types].xml": (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/></Types>'
        ),
        "_rels/.rels": (
            f'<Relationships xmlns="{PKG_REL_NS}">'
            f'<Relationship Id="rId1" Type="{REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<workbook xmlns="{S_NS}" xmlns:r="{R_NS}"><sheets>'
            f'<sheet name="{sheet_name}" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'<Relationships xmlns="{PKG_REL_NS}">'
            f'<Relationship Id="rId1" Type="{REL}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
        ),
        "xl/worksheets/sheet1.xml": (
            f'<worksheet xmlns="{S_NS}"><sheetData><row r="1">'
            '<c r="A1" t="inlineStr"><is><t>Item</t></is></c><c r="B1"><v>100</v></c>'
            "</row></sheetData></worksheet>"
        ),
    }
    if comment_cell is not None:
        parts["xl/comments1.xml"] = (
            f'<comments xmlns="{S_NS}"><authors><author>Ivan</author></authors><commentList>'
            f'<comment ref="{comment_cell}" authorId="0"><text><r><t>Our cost is 60</t></r></text></comment>'
            "</commentList></comments>"
        )
        sheet_rels.append(f'<Relationship Id="rId2" Type="{REL}/comments" Target="../comments1.xml"/>')
    if threaded_cell is not None:
        tc_ns = "http://schemas.microsoft.com/office/spreadsheetml/2018/threadedcomments"
        parts["xl/threadedComments/threadedComment1.xml"] = (
            f'<ThreadedComments xmlns="{tc_ns}"><threadedComment ref="{threaded_cell}" '
            'dT="2026-12-01T10:00:00.00" personId="{P-1}" id="{C-1}"><text>Check the discount</text>'
            "</threadedComment></ThreadedComments>"
        )
        sheet_rels.append(
            '<Relationship Id="rId3" Type="http://schemas.microsoft.com/office/2017/10/relationships/threadedComment" '
            'Target="../threadedComments/threadedComment1.xml"/>'
        )
    if sheet_rels:
        parts["xl/worksheets/_rels/sheet1.xml.rels"] = (
            f'<Relationships xmlns="{PKG_REL_NS}">{"".join(sheet_rels)}</Relationships>'
        )
    return _zip(parts)


def pdf(pages: int = 2, *, annotations: dict[int, list[str]] | None = None) -> bytes:
    """Build a PDF; ``annotations`` maps a 1-based page number to annotation subtypes to add there."""
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    for page_number, subtypes in (annotations or {}).items():
        for subtype in subtypes:
            writer.add_annotation(page_number - 1, _annotation(subtype))
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _annotation(subtype: str) -> dict[str, Any]:
    rect = (50, 550, 200, 650)
    if subtype == "Text":
        note = Text(rect=rect, text="Internal: lower the price")
        note[NameObject("/T")] = TextStringObject("Olga")
        return note
    if subtype == "FreeText":
        return FreeText(text="Remove before sending", rect=rect)
    if subtype == "Highlight":
        quad = ArrayObject([FloatObject(value) for value in (50, 650, 200, 650, 50, 550, 200, 550)])
        return Highlight(rect=rect, quad_points=quad)
    if subtype == "Link":
        return Link(rect=rect, url="https://example.com")
    raise ValueError(f"no builder for a {subtype} annotation")
