"""The document schemas (``schemas/*.schema.json``), loaded once per process."""

from __future__ import annotations

from functools import lru_cache

from sync import DocSchema, load_schemas


@lru_cache(maxsize=1)
def schemas() -> dict[str, DocSchema]:
    return load_schemas()


def schema_for(doc_type: str) -> DocSchema:
    return schemas()[doc_type]
