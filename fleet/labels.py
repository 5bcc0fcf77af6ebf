"""Device labels: the LoRa Alliance TR005 QR code, plus the DevEUI, role, site and location in plain text.

The QR code carries ``LW:D0:<JoinEUI>:<DevEUI>:<ProfileID>`` and ``:S<serial>`` (the board's unique id, or the
serial given at import). It never carries a key: a label is public, whoever scans it learns only identifiers.
No ``:C`` checksum is emitted (TR005 makes it optional). Every character is in the QR alphanumeric set, so the
code stays small (version 4, 33x33 modules, with a serial).

Outputs: a PNG (Pillow, text under the code), an SVG (hand-written, one path for the code), and A4 PDF sheets
(fpdf2) of 3 x 8 labels of 70 x 37 mm, the code drawn as vector rectangles so it prints sharp at any size.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import segno

from fleet.vault import parse_eui

_SERIAL_RE = re.compile(r"^[0-9A-Z.\-]{1,32}$")
QUIET = 4  # modules of white border the QR spec asks for


class LabelError(ValueError):
    pass


def tr005(
    join_eui: str,
    dev_eui: str,
    profile_id: str = "00000000",
    serial: str | None = None,
    owner_token: str | None = None,
) -> str:
    """The TR005 string of a device (no keys, ever)."""
    j = parse_eui(join_eui, "JoinEUI")
    d = parse_eui(dev_eui, "DevEUI")
    p = str(profile_id).upper()
    if not re.fullmatch(r"[0-9A-F]{8}", p):
        raise LabelError(f"ProfileID {profile_id!r} is not 8 hex digits (VendorID + VendorProfileID)")
    out = f"LW:D0:{j}:{d}:{p}"
    if owner_token:
        t = str(owner_token).upper()
        if not re.fullmatch(r"[0-9A-F]{1,32}", t):
            raise LabelError("owner token must be hex")
        out += f":O{t}"
    if serial:
        s = str(serial).upper()
        if not _SERIAL_RE.match(s):
            raise LabelError(f"serial {serial!r} must be letters, digits, '.' or '-' (at most 32)")
        out += f":S{s}"
    return out


def parse_tr005(text: str) -> dict:
    """Fields of a TR005 string: join_eui, dev_eui, profile_id, and the optional ones by their letter."""
    parts = text.split(":")
    if len(parts) < 5 or parts[0] != "LW" or parts[1] != "D0":
        raise LabelError(f"not a TR005 device code: {text!r}")
    out = {"join_eui": parts[2], "dev_eui": parts[3], "profile_id": parts[4]}
    names = {"O": "owner_token", "S": "serial", "P": "proprietary", "C": "checksum"}
    for extra in parts[5:]:
        if extra:
            out[names.get(extra[0], extra[0])] = extra[1:]
    return out


@dataclass
class Label:
    code: str  # the TR005 string
    dev_eui: str
    role: str = ""
    site: str = ""
    location: str = ""
    serial: str = ""

    @classmethod
    def for_device(cls, device: dict, profile_id: str = "00000000") -> Label:
        serial = device.get("serial") or (device.get("board_uid") or "").upper() or None
        return cls(
            code=tr005(device["join_eui"], device["dev_eui"], profile_id, serial),
            dev_eui=device["dev_eui"],
            role=device.get("role") or "",
            site=device.get("site") or "",
            location=device.get("location") or "",
            serial=serial or "",
        )

    def lines(self) -> list[str]:
        d = self.dev_eui
        out = ["DevEUI " + " ".join(d[i : i + 4] for i in range(0, 16, 4))]
        if self.role:
            out.append(self.role)
        if self.site or self.location:
            out.append(" / ".join(x for x in (self.site, self.location) if x))
        if self.serial:
            out.append(f"S/N {self.serial}")
        return out

    def qr(self) -> segno.QRCode:
        return segno.make_qr(self.code, error="m")


FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",  # Debian/Ubuntu fonts-dejavu-core
    "/usr/share/fonts/TTF/DejaVuSans.ttf",  # Arch
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",  # Fedora
    "/Library/Fonts/Arial Unicode.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "C:/Windows/Fonts/arial.ttf",
)


def find_font() -> str | None:
    """A Unicode TrueType font for label text (CITYNODE_LABEL_FONT, else a common system font), or None."""
    import os

    env = os.environ.get("CITYNODE_LABEL_FONT")
    for p in ((env,) if env else ()) + FONT_CANDIDATES:
        if p and Path(p).is_file():
            return p
    return None


def _dark_runs(qr: segno.QRCode):
    """(row, first column, length) of each horizontal run of dark modules, without the quiet zone."""
    for y, row in enumerate(qr.matrix):
        x = 0
        n = len(row)
        while x < n:
            if row[x]:
                start = x
                while x < n and row[x]:
                    x += 1
                yield y, start, x - start
            else:
                x += 1


# ------------------------------------------------------------------------------------------------ PNG


def write_png(label: Label, path: str | Path, scale: int = 8) -> Path:
    from PIL import Image, ImageDraw, ImageFont

    qr = label.qr()
    size = qr.symbol_size(scale=1, border=0)[0]
    side = (size + 2 * QUIET) * scale
    font_px = max(12, int(scale * 2.2))
    ttf = find_font()
    font = ImageFont.truetype(ttf, font_px) if ttf else ImageFont.load_default(size=font_px)
    lines = label.lines() if ttf else [_fold(t, "ascii") for t in label.lines()]
    line_h = int(font_px * 1.3)
    width = max(side, max(int(font.getlength(t)) for t in lines) + 2 * QUIET * scale)
    height = side + line_h * len(lines) + QUIET * scale
    img = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(img)
    ox = (width - side) // 2 + QUIET * scale
    for y, x, n in _dark_runs(qr):
        draw.rectangle(
            [ox + x * scale, (QUIET + y) * scale, ox + (x + n) * scale - 1, (QUIET + y + 1) * scale - 1], 0
        )
    ty = side
    for t in lines:
        draw.text(((width - font.getlength(t)) / 2, ty), t, fill=0, font=font)
        ty += line_h
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, "PNG", optimize=True)
    return path


# ------------------------------------------------------------------------------------------------ SVG


def svg(label: Label, module_mm: float = 0.6) -> str:
    qr = label.qr()
    size = qr.symbol_size(scale=1, border=0)[0]
    side = size + 2 * QUIET
    lines = label.lines()
    line_h = 2.6
    height = side + line_h * len(lines) + 2
    d = "".join(f"M{QUIET + x} {QUIET + y}h{n}v1h-{n}z" for y, x, n in _dark_runs(qr))
    texts = "".join(
        f'<text x="{side / 2}" y="{side + line_h * (i + 0.8):.2f}" text-anchor="middle">{escape(t)}</text>'
        for i, t in enumerate(lines)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{side * module_mm:.2f}mm" height="{height * module_mm:.2f}mm" '
        f'viewBox="0 0 {side} {height:.2f}">'
        f'<rect width="100%" height="100%" fill="#fff"/>'
        f'<path fill="#000" d="{d}"/>'
        f'<g font-family="DejaVu Sans, Arial, sans-serif" font-size="2" fill="#000">{texts}</g>'
        f"</svg>\n"
    )


def write_svg(label: Label, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(svg(label), encoding="utf-8")
    return path


def write_image(label: Label, path: str | Path) -> Path:
    suffix = Path(path).suffix.lower()
    if suffix == ".png":
        return write_png(label, path)
    if suffix == ".svg":
        return write_svg(label, path)
    raise LabelError(f"{path}: a label image is .png or .svg")


# ------------------------------------------------------------------------------------------------ PDF sheets

PAGE_W, PAGE_H = 210.0, 297.0  # A4, mm
COLS, ROWS = 3, 8
CELL_W, CELL_H = PAGE_W / COLS, PAGE_H / ROWS  # 70 x 37.125 mm: common 24-up label stock without margins
QR_MM = 30.0


def _fold(text: str, charset: str = "latin-1") -> str:
    """Text for a font that has only `charset`: keep what it has, fold the rest to a base letter, else '?'."""
    out = []
    for ch in text:
        try:
            ch.encode(charset)
            out.append(ch)
        except UnicodeEncodeError:
            base = unicodedata.normalize("NFKD", ch)
            base = "".join(c for c in base if not unicodedata.combining(c))
            if ch in "\u2013\u2014\u2212":
                base = "-"
            elif ch in "\u2018\u2019":
                base = "'"
            elif ch in "\u201c\u201d":
                base = '"'
            try:
                base.encode(charset)
                out.append(base or "?")
            except UnicodeEncodeError:
                out.append("?")
    return "".join(out)


def write_pdf(labels: list[Label], path: str | Path) -> Path:
    """A4 sheets, 24 labels a page, each: the code on the left, the text on the right; cut marks as hairlines."""
    from fpdf import FPDF

    if not labels:
        raise LabelError("no labels to lay out")
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_margins(0, 0, 0)
    pdf.set_creator("citynode")
    pdf.set_title("citynode device labels")
    ttf = find_font()
    if ttf:
        pdf.add_font("LabelSans", "", ttf)
        text_font, fold = "LabelSans", (lambda t: t)
    else:  # core fonts only know Latin-1
        text_font, fold = "Helvetica", _fold
    per_page = COLS * ROWS
    for i, label in enumerate(labels):
        if i % per_page == 0:
            pdf.add_page()
            pdf.set_draw_color(200)
            pdf.set_line_width(0.1)
            for c in range(1, COLS):
                pdf.line(c * CELL_W, 0, c * CELL_W, PAGE_H)
            for r in range(1, ROWS):
                pdf.line(0, r * CELL_H, PAGE_W, r * CELL_H)
        k = i % per_page
        x0, y0 = (k % COLS) * CELL_W, (k // COLS) * CELL_H
        qr = label.qr()
        size = qr.symbol_size(scale=1, border=0)[0]
        m = QR_MM / (size + 2 * QUIET)
        qx, qy = x0 + 2, y0 + (CELL_H - QR_MM) / 2
        pdf.set_fill_color(0)
        for y, x, n in _dark_runs(qr):
            pdf.rect(qx + (QUIET + x) * m, qy + (QUIET + y) * m, n * m, m, style="F")
        tx = qx + QR_MM + 1
        tw = x0 + CELL_W - tx - 2
        lines = label.lines()
        pdf.set_xy(tx, y0 + 6)
        for j, text in enumerate(lines):
            if j == 0:
                pdf.set_font("Courier", "B", 7.5)
                d = label.dev_eui
                pdf.set_x(tx)
                pdf.cell(tw, 3.6, "DevEUI", new_x="LMARGIN", new_y="NEXT")
                pdf.set_x(tx)
                pdf.cell(tw, 3.6, f"{d[:8]} {d[8:]}", new_x="LMARGIN", new_y="NEXT")
                pdf.set_font(text_font, "", 7.5)
                continue
            pdf.set_x(tx)
            pdf.multi_cell(tw, 3.4, fold(text), new_x="LMARGIN", new_y="NEXT", max_line_height=3.4)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path
