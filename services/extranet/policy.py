"""The sharing policy of a client company and the rule that turns source candidates into view rows.

Every function here is pure: it decides from the policy and one candidate which view row, if any,
the client may see. The projection writes exactly these rows, so the view never contains a field that
the policy forbids.
"""

from __future__ import annotations

import uuid
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.extranet.tables import (
    SourceDeal,
    SourceFile,
    SourceTask,
    SourceVersion,
    ViewDeal,
    ViewFile,
    ViewTask,
    ViewVersion,
)

DealSelection = Literal["none", "all", "pipelines", "chosen"]


class DealFields(BaseModel):
    """Deal fields shown besides the title."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stage: bool = Field(default=True, description="Show the public stage name.")
    next_step: bool = Field(default=False, description="Show the public next step.")
    amount: bool = Field(default=False, description="Show the amount and its currency.")


class SharingPolicy(BaseModel):
    """Sharing rules of one client company; the default shares nothing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    deals: DealSelection = Field(default="none", description="Which deals: none, all, by pipeline, or chosen.")
    pipeline_ids: list[uuid.UUID] = Field(default_factory=list, description="Pipelines shared when deals=pipelines.")
    deal_ids: list[uuid.UUID] = Field(default_factory=list, description="Deals shared when deals=chosen.")
    deal_fields: DealFields = Field(default_factory=DealFields)
    tasks: bool = Field(default=False, description="Show tasks flagged visible to the client.")
    documents: bool = Field(default=False, description="Show document versions published to the client.")
    files: bool = Field(default=False, description="Show files shared with the client.")

    @model_validator(mode="after")
    def _selection_has_its_ids(self) -> Self:
        if self.deals == "pipelines" and not self.pipeline_ids:
            raise ValueError("pipeline_ids must name at least one pipeline when deals is 'pipelines'")
        if self.deals == "chosen" and not self.deal_ids:
            raise ValueError("deal_ids must name at least one deal when deals is 'chosen'")
        return self

    def shares_deal(self, deal: SourceDeal) -> bool:
        if self.deals == "all":
            return True
        if self.deals == "pipelines":
            return deal.pipeline_id in self.pipeline_ids
        if self.deals == "chosen":
            return deal.deal_id in self.deal_ids
        return False


def deal_view(policy: SharingPolicy, deal: SourceDeal) -> ViewDeal | None:
    """Build the client's row of ``deal``, or None when the policy does not share it."""
    if deal.deleted or deal.company_id is None or not policy.shares_deal(deal):
        return None
    fields = policy.deal_fields
    return ViewDeal(
        deal_id=deal.deal_id,
        company_id=deal.company_id,
        title=deal.title,
        stage_name=deal.stage_name if fields.stage else None,
        next_step=deal.next_step if fields.next_step else None,
        amount=deal.amount if fields.amount else None,
        currency=deal.currency if fields.amount else None,
    )


def task_view(policy: SharingPolicy, task: SourceTask) -> ViewTask | None:
    """Build the client's row of ``task``, or None unless it is flagged for the client and tasks are shared."""
    if not policy.tasks or task.deleted or not task.visible_to_client or task.company_id is None:
        return None
    if task.title is None or task.status is None:
        return None
    return ViewTask(
        task_id=task.task_id,
        company_id=task.company_id,
        title=task.title,
        status=task.status,
        due_at=task.due_at,
        public_text=task.public_text,
    )


def version_view(policy: SharingPolicy, version: SourceVersion) -> ViewVersion | None:
    """Build the client's row of a published version, or None when documents are not shared."""
    if not policy.documents or version.company_id is None:
        return None
    return ViewVersion(
        version_id=version.version_id,
        company_id=version.company_id,
        document_id=version.document_id,
        document_title=version.document_title,
        kind=version.kind,
        number=version.number,
        file_name=version.file_name,
        media_type=version.media_type,
        size=version.size,
    )


def file_view(policy: SharingPolicy, file: SourceFile) -> ViewFile | None:
    """Build the client's row of a shared file, or None when files are not shared."""
    if not policy.files or file.company_id is None:
        return None
    return ViewFile(
        file_id=file.file_id,
        company_id=file.company_id,
        file_name=file.file_name,
        media_type=file.media_type,
        size=file.size,
    )
