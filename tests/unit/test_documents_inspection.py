"""Reviewers' marks inside real DOCX, XLSX and PDF files are found and located; hostile files are refused."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from contracts.documents import FindingState
from services.documents.errors import FileNotInspectable, UnsupportedMediaType
from services.documents.inspection import MAX_FINDINGS, InspectionLimits, describe, inspect_file
from services.documents.inspection import PPTX as PPTX_TYPE
from tests.documents_samples import DOCX_TYPE, PDF_TYPE, W_NS, XLSX_TYPE, docx, pdf, xlsx

pytestmark = pytest.mark.unit

LIMITS = InspectionLimits(max_unpacked_bytes=10 * 1024 * 1024, max_members=100)


def inspect(tmp_path: Path, content: bytes, media_type: str, limits: InspectionLimits = LIMITS) -> list[FindingState]:
    path = tmp_path / "upload"
    path.write_bytes(content)
    return inspect_file(path, media_type, limits)


def located(findings: list[FindingState]) -> set[tuple[str, str | None, str]]:
    return {(finding.kind, finding.part, finding.location) for finding in findings}


def test_clean_docx_passes(tmp_path: Path) -> None:
    assert inspect(tmp_path, docx(), DOCX_TYPE) == []


def test_docx_comment_names_paragraph(tmp_path: Path) -> None:
    [finding] = inspect(tmp_path, docx(comment_on=2), DOCX_TYPE)

    assert finding.kind == "comment"
    assert finding.part == "word/document.xml"
    assert finding.location == "paragraph 2"
    assert finding.author == "Olga"
    assert finding.text == "Do not show the client our margin"
    assert describe(finding) == "comment in word/document.xml, paragraph 2 by Olga"


@pytest.mark.parametrize(
    ("option", "kind", "author", "text"),
    [
        ("insertion_in", "insertion", "Olga", "added"),
        ("deletion_in", "deletion", "Ivan", "removed"),
        ("move_in", "move", "Olga", "moved here"),
    ],
)
def test_docx_tracked_change_names_paragraph(tmp_path: Path, option: str, kind: str, author: str, text: str) -> None:
    [finding] = inspect(tmp_path, docx(**{option: 3}), DOCX_TYPE)  # type: ignore[arg-type]

    assert (finding.kind, finding.part, finding.location) == (kind, "word/document.xml", "paragraph 3")
    assert finding.author == author
    assert finding.text == text


def test_docx_marks_found_together(tmp_path: Path) -> None:
    findings = inspect(tmp_path, docx(comment_on=1, insertion_in=2, deletion_in=3, move_in=1), DOCX_TYPE)

    assert located(findings) == {
        ("comment", "word/document.xml", "paragraph 1"),
        ("insertion", "word/document.xml", "paragraph 2"),
        ("deletion", "word/document.xml", "paragraph 3"),
        ("move", "word/document.xml", "paragraph 1"),
    }


def test_docx_change_in_header_and_formatting(tmp_path: Path) -> None:
    header = (
        f'<w:hdr xmlns:w="{W_NS}"><w:p><w:pPr><w:pPrChange w:id="7" w:author="Ivan"><w:pPr/></w:pPrChange>'
        '</w:pPr><w:ins w:id="8" w:author="Ivan"><w:r><w:t>Draft</w:t></w:r></w:ins></w:p></w:hdr>'
    )
    findings = inspect(tmp_path, docx(extra_parts={"word/header1.xml": header}), DOCX_TYPE)

    assert located(findings) == {
        ("formatting_change", "word/header1.xml", "paragraph 1"),
        ("insertion", "word/header1.xml", "paragraph 1"),
    }


def test_docx_comment_without_anchor_is_still_found(tmp_path: Path) -> None:
    comments = f'<w:comments xmlns:w="{W_NS}"><w:comment w:id="5" w:author="A"><w:p/></w:comment></w:comments>'
    [finding] = inspect(tmp_path, docx(extra_parts={"word/comments.xml": comments}), DOCX_TYPE)

    assert finding.part == "word/comments.xml"
    assert finding.location == "comment 5, not anchored in the text"


def test_clean_xlsx_passes(tmp_path: Path) -> None:
    assert inspect(tmp_path, xlsx(), XLSX_TYPE) == []


def test_xlsx_legacy_comment_names_sheet_and_cell(tmp_path: Path) -> None:
    [finding] = inspect(tmp_path, xlsx(comment_cell="B1"), XLSX_TYPE)

    assert (finding.kind, finding.part, finding.location) == ("comment", "xl/comments1.xml", "sheet 'Prices' cell B1")
    assert finding.author == "Ivan"
    assert finding.text == "Our cost is 60"


def test_xlsx_threaded_comment_names_sheet_and_cell(tmp_path: Path) -> None:
    [finding] = inspect(tmp_path, xlsx(threaded_cell="A1"), XLSX_TYPE)

    assert finding.kind == "threaded_comment"
    assert finding.part == "xl/threadedComments/threadedComment1.xml"
    assert finding.location == "sheet 'Prices' cell A1"
    assert finding.text == "Check the discount"


def test_xlsx_threaded_placeholder_reported_once(tmp_path: Path) -> None:
    findings = inspect(tmp_path, xlsx(comment_cell="A1", threaded_cell="A1"), XLSX_TYPE)

    assert [finding.kind for finding in findings] == ["threaded_comment"]


def test_xlsx_unlinked_comments_part_is_found(tmp_path: Path) -> None:
    sheet = xlsx(comment_cell="C3")
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(sheet)) as source, zipfile.ZipFile(buffer, "w") as target:
        for item in source.infolist():
            if item.filename != "xl/worksheets/_rels/sheet1.xml.rels":
                target.writestr(item, source.read(item))

    [finding] = inspect(tmp_path, buffer.getvalue(), XLSX_TYPE)

    assert finding.location == "an unlinked comments part cell C3"


def test_clean_pdf_passes(tmp_path: Path) -> None:
    assert inspect(tmp_path, pdf(pages=3), PDF_TYPE) == []


def test_pdf_link_is_not_a_mark(tmp_path: Path) -> None:
    assert inspect(tmp_path, pdf(annotations={1: ["Link"]}), PDF_TYPE) == []


@pytest.mark.parametrize("subtype", ["Text", "FreeText", "Highlight"])
def test_pdf_annotation_names_page(tmp_path: Path, subtype: str) -> None:
    [finding] = inspect(tmp_path, pdf(pages=3, annotations={2: [subtype]}), PDF_TYPE)

    assert finding.kind == "annotation"
    assert finding.subtype == subtype
    assert finding.page == 2
    assert finding.location == "page 2"


def test_pdf_text_note_keeps_author_and_text(tmp_path: Path) -> None:
    [finding] = inspect(tmp_path, pdf(annotations={1: ["Text", "Link"]}), PDF_TYPE)

    assert finding.author == "Olga"
    assert finding.text == "Internal: lower the price"
    assert describe(finding) == "Text annotation on page 1 by Olga"


def test_many_marks_are_capped(tmp_path: Path) -> None:
    paragraphs = [f"Clause {number}" for number in range(1, 151)]
    body = "".join(
        f'<w:p><w:ins w:id="{n}" w:author="A"><w:r><w:t>{text}</w:t></w:r></w:ins></w:p>'
        for n, text in enumerate(paragraphs)
    )
    document = f'<w:document xmlns:w="{W_NS}"><w:body>{body}</w:body></w:document>'
    findings = inspect(tmp_path, docx(extra_parts={"word/document.xml": document}), DOCX_TYPE)

    assert len(findings) == MAX_FINDINGS
    assert findings[-1].location == "and 51 more marks not listed"


def test_zip_bomb_is_not_inspected(tmp_path: Path) -> None:
    zeros = {"word/bomb.bin": b"\0" * (4 * 1024 * 1024)}
    small = InspectionLimits(max_unpacked_bytes=1024 * 1024, max_members=100)

    with pytest.raises(FileNotInspectable, match="more than the limit of 1048576 bytes"):
        inspect(tmp_path, docx(extra_parts=zeros), DOCX_TYPE, small)


def test_forged_sizes_do_not_fool_the_limit(tmp_path: Path) -> None:
    # The directory claims 10 bytes for a part that inflates to 2 MiB; the bytes actually read count.
    buffer = io.BytesIO()
    big = b"<a>" + b" " * (2 * 1024 * 1024) + b"</a>"
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", big)
    forged = buffer.getvalue().replace(len(big).to_bytes(4, "little"), (10).to_bytes(4, "little"))
    small = InspectionLimits(max_unpacked_bytes=1024 * 1024, max_members=100)

    with pytest.raises(FileNotInspectable):
        inspect(tmp_path, forged, DOCX_TYPE, small)


def test_too_many_entries_are_refused(tmp_path: Path) -> None:
    parts: dict[str, str | bytes] = {f"word/media/{n}.bin": b"x" for n in range(200)}

    with pytest.raises(FileNotInspectable, match="more than the limit of 100"):
        inspect(tmp_path, docx(extra_parts=parts), DOCX_TYPE)


def test_billion_laughs_is_refused(tmp_path: Path) -> None:
    entities = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + n)} "{("&" + chr(97 + n) + ";") * 10}">' for n in range(8)
    )
    bomb = f'<?xml version="1.0"?><!DOCTYPE w:document [{entities}]><w:document xmlns:w="{W_NS}">&i;</w:document>'

    with pytest.raises(FileNotInspectable, match="not safe, well-formed XML"):
        inspect(tmp_path, docx(extra_parts={"word/document.xml": bomb}), DOCX_TYPE)


def test_external_entity_is_refused(tmp_path: Path) -> None:
    xxe = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        f'<w:document xmlns:w="{W_NS}"><w:body><w:p><w:r><w:t>&e;</w:t></w:r></w:p></w:body></w:document>'
    )

    with pytest.raises(FileNotInspectable):
        inspect(tmp_path, docx(extra_parts={"word/document.xml": xxe}), DOCX_TYPE)


def test_malformed_xml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotInspectable, match=r"word/document\.xml"):
        inspect(tmp_path, docx(extra_parts={"word/document.xml": "<w:document"}), DOCX_TYPE)


def test_docx_that_is_not_a_zip(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedMediaType, match="not a ZIP archive"):
        inspect(tmp_path, b"plain text pretending to be Word", DOCX_TYPE)


def test_pdf_without_header(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedMediaType, match="not a PDF"):
        inspect(tmp_path, docx(), PDF_TYPE)


def test_damaged_pdf_is_not_inspected(tmp_path: Path) -> None:
    with pytest.raises(FileNotInspectable, match="the PDF cannot be read"):
        inspect(
            tmp_path, b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 9 0 R >> endobj\ntrailer << /Root 1 0 R >>", PDF_TYPE
        )


def test_pptx_comment_part_is_found(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("ppt/presentation.xml", "<p:presentation/>")
        archive.writestr("ppt/comments/modernComment_1.xml", "<p188:cmLst/>")

    [finding] = inspect(tmp_path, buffer.getvalue(), PPTX_TYPE)

    assert (finding.kind, finding.part) == ("comment", "ppt/comments/modernComment_1.xml")


def test_other_types_are_not_inspected(tmp_path: Path) -> None:
    assert inspect(tmp_path, b"hello", "text/plain") == []
