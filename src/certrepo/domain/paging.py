"""Page numbers and sizes of every list (SPEC §2.1: default 50, at most 500)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from .errors import InvalidInput

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "Page", "PageOf"]

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
T = TypeVar("T")


@dataclass(frozen=True)
class Page:
    number: int = 1
    size: int = DEFAULT_PAGE_SIZE

    def __post_init__(self) -> None:
        if self.number < 1:
            raise InvalidInput(f"page must be >= 1, got {self.number}", details={"field": "page"})
        if not 1 <= self.size <= MAX_PAGE_SIZE:
            raise InvalidInput(
                f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {self.size}",
                details={"field": "page_size"},
            )

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size


@dataclass(frozen=True)
class PageOf(Generic[T]):
    items: list[T]
    total: int
    page: Page
