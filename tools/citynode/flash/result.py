"""What every flashing method reports: a `FlashResult`, or a `FlashError`; and the progress callback's shape."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

Progress = Callable[[str, int, int], None]  # (phase, done, total)


class FlashError(Exception):
    """Flashing failed in a way the user can act on; the message says what happened and what to do."""


@dataclass
class FlashResult:
    board: str
    target: str  # port, volume or probe
    method: str
    bytes: int
    seconds: float
    chip: str | None = None
    mac: str | None = None
    baud: int | None = None
    stub: bool | None = None
    compressed: bool | None = None
    md5: str | None = None
    attempts: int = 1
    command: str = ""
    port_after: str | None = None  # where a native-USB board came back after its reset
    erased: bool = False
    log: list[str] = field(default_factory=list, repr=False)

    def summary(self) -> str:
        if self.method == "esptool":
            how = ", ".join(
                x
                for x in (
                    f"{self.baud} baud",
                    "stub" if self.stub else "ROM loader",
                    "compressed" if self.compressed else "uncompressed",
                    f"attempt {self.attempts}" if self.attempts > 1 else "",
                )
                if x
            )
            back = f"; now on {self.port_after}" if self.port_after and self.port_after != self.target else ""
            return f"{self.chip} {self.mac}: {_kb(self.bytes)} written, MD5 verified ({how}){back}"
        return f"{_kb(self.bytes)} to {self.target}"


def _kb(n: int) -> str:
    return f"{n / 1024:.0f} KB" if n < 1 << 20 else f"{n / (1 << 20):.2f} MB"
