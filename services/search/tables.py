"""Search keeps its data in OpenSearch; its database holds only the shared runtime tables."""

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from servicekit.db import NAMING_CONVENTION, TYPE_ANNOTATION_MAP


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = TYPE_ANNOTATION_MAP


metadata = Base.metadata
