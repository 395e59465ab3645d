"""Calendar quarters written `YYYY-Qn`."""

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated

from pydantic import AfterValidator

_QUARTER = re.compile(r"^([0-9]{4})-Q([1-4])$")


@dataclass(frozen=True, order=True)
class Quarter:
    year: int
    number: int

    @classmethod
    def parse(cls, text: str) -> "Quarter":
        match = _QUARTER.match(text)
        if match is None or not 1 <= int(match[1]) <= 9998:
            raise ValueError(f"{text!r} is not a quarter like 2027-Q1")
        return cls(int(match[1]), int(match[2]))

    @classmethod
    def of(cls, day: date) -> "Quarter":
        return cls(day.year, (day.month - 1) // 3 + 1)

    def __str__(self) -> str:
        return f"{self.year}-Q{self.number}"

    def first_day(self) -> date:
        return date(self.year, 3 * self.number - 2, 1)

    def next(self) -> "Quarter":
        return Quarter(self.year + self.number // 4, self.number % 4 + 1)

    def last_day(self) -> date:
        return self.next().first_day() - timedelta(days=1)

    def until(self, last: "Quarter") -> list["Quarter"]:
        quarters, quarter = [], self
        while quarter <= last:
            quarters.append(quarter)
            quarter = quarter.next()
        return quarters


def _checked(text: str) -> str:
    Quarter.parse(text)
    return text


QuarterText = Annotated[str, AfterValidator(_checked)]
