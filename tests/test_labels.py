"""Labels: TR005 strings, and the QR codes in PNG, SVG and PDF read back by a real decoder (zxing-cpp)."""

import io

import cairosvg
import pypdfium2 as pdfium
import pytest
import zxingcpp
from PIL import Image

from fleet import labels

DEV = {
    "dev_eui": "F412FAFFFE4A5B7C",
    "join_eui": "70B3D57ED0000000",
    "role": "classair",
    "site": "École Jules Ferry",
    "location": "Salle 12 – 1er étage",
    "board_uid": "f412fa4a5b7c",
}
EXPECTED = "LW:D0:70B3D57ED0000000:F412FAFFFE4A5B7C:A1B20001:SF412FA4A5B7C"


def decode(img: Image.Image) -> list[str]:
    return sorted(
        b.text for b in zxingcpp.read_barcodes(img.convert("L")) if b.format == zxingcpp.BarcodeFormat.QRCode
    )


def test_tr005_string():
    assert labels.Label.for_device(DEV, "a1b20001").code == EXPECTED
    assert (
        labels.tr005("70B3D57ED0000000", "F412FAFFFE4A5B7C")
        == "LW:D0:70B3D57ED0000000:F412FAFFFE4A5B7C:00000000"
    )
    assert labels.tr005("70b3d57ed0000000", "f412fafffe4a5b7c", "A1B20001", "sn-42", owner_token="abcd") == (
        "LW:D0:70B3D57ED0000000:F412FAFFFE4A5B7C:A1B20001:OABCD:SSN-42"
    )
    assert labels.parse_tr005(EXPECTED) == {
        "join_eui": "70B3D57ED0000000",
        "dev_eui": "F412FAFFFE4A5B7C",
        "profile_id": "A1B20001",
        "serial": "F412FA4A5B7C",
    }


@pytest.mark.parametrize(
    "kw,msg",
    [
        ({"dev_eui": "F412FAFFFE4A5B7"}, "not 16 hex digits"),
        ({"join_eui": "XX"}, "not 16 hex digits"),
        ({"profile_id": "123"}, "ProfileID"),
        ({"serial": "A:B"}, "serial"),
    ],
)
def test_tr005_rejects_bad_fields(kw, msg):
    args = {"join_eui": "70B3D57ED0000000", "dev_eui": "F412FAFFFE4A5B7C", "profile_id": "00000000"}
    args.update(kw)
    with pytest.raises(ValueError, match=msg):
        labels.tr005(**args)


def test_label_never_carries_keys():
    dev = dict(DEV, app_key="2B7E151628AED2A6ABF7158809CF4F3C")
    label = labels.Label.for_device(dev)
    assert "2B7E" not in label.code and all("2B7E" not in t for t in label.lines())


def test_png_decodes_to_the_tr005_string(tmp_path):
    path = labels.write_image(labels.Label.for_device(DEV, "A1B20001"), tmp_path / "l.png")
    assert decode(Image.open(path)) == [EXPECTED]


def test_png_without_a_system_font_still_reads(tmp_path, monkeypatch):
    monkeypatch.setattr(labels, "FONT_CANDIDATES", ())
    monkeypatch.delenv("CITYNODE_LABEL_FONT", raising=False)
    path = labels.write_png(labels.Label.for_device(DEV, "A1B20001"), tmp_path / "l.png")
    assert decode(Image.open(path)) == [EXPECTED]


def test_svg_decodes_to_the_tr005_string(tmp_path):
    path = labels.write_image(labels.Label.for_device(DEV, "A1B20001"), tmp_path / "l.svg")
    text = path.read_text()
    assert "Salle 12 – 1er étage" in text and "F412 FAFF FE4A 5B7C" in text
    png = cairosvg.svg2png(url=str(path), scale=6)
    assert decode(Image.open(io.BytesIO(png))) == [EXPECTED]


def test_pdf_sheets_hold_every_label(tmp_path):
    devs = [
        dict(DEV, dev_eui=f"F412FAFFFE4A5B{i:02X}", board_uid=f"f412fa4a5b{i:02x}", location=f"Salle {i}")
        for i in range(30)
    ]
    path = labels.write_pdf([labels.Label.for_device(d) for d in devs], tmp_path / "sheet.pdf")
    pdf = pdfium.PdfDocument(str(path))
    assert len(pdf) == 2  # 24 a page
    found = []
    for page in pdf:
        found += decode(page.render(scale=3).to_pil())
        text = page.get_textpage().get_text_range()
        assert "classair" in text and "Salle" in text
    pdf.close()
    want = sorted(labels.tr005("70B3D57ED0000000", d["dev_eui"], serial=d["board_uid"]) for d in devs)
    assert sorted(found) == want


def test_image_suffix_checked(tmp_path):
    with pytest.raises(labels.LabelError, match=".png or .svg"):
        labels.write_image(labels.Label.for_device(DEV), tmp_path / "l.jpg")
