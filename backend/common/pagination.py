"""Page-number pagination with a bounded page size."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page
from django.core.paginator import Paginator as DjangoPaginator
from rest_framework.pagination import PageNumberPagination


class FirstPageCountingPaginator(DjangoPaginator):
    """Django's paginator, except that a first page with room to spare is the whole list, so
    its length is the count: the ``COUNT(*)`` runs only when the first page is full (or for a
    later page, whose number must be checked against it)."""

    def page(self, number: Any) -> Page:
        if self.orphans or not self.allow_empty_first_page or "count" in self.__dict__:
            return super().page(number)
        try:
            first = int(number) == 1 and not isinstance(number, float)
        except (TypeError, ValueError):
            first = False
        if not first:
            return super().page(number)
        items = list(self.object_list[: self.per_page])
        if len(items) < self.per_page:
            self.__dict__["count"] = len(items)  # ``count`` is a cached_property
        return self._get_page(items, 1, self)


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    django_paginator_class = FirstPageCountingPaginator
