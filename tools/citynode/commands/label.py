"""`citynode label`: device labels with the TR005 QR code, as one image or as printable A4 sheets."""

from __future__ import annotations

import click

from citynode.cli import UserError
from citynode.commands.fleet import db_option, open_fleet, parse_dev_euis, user_errors


@click.command()
@click.argument("dev_euis", nargs=-1)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="one label image: FILE.png or FILE.svg")
@click.option(
    "--pdf", type=click.Path(dir_okay=False), help="A4 sheets (24 labels a page) of all the devices"
)
@click.option("--site", help="every live device of this site (with or instead of DEVEUIs)")
@db_option
@user_errors
def cli(dev_euis, output, pdf, site, db):
    """Write labels for DEVEUIs: TR005 QR code (LW:D0:JoinEUI:DevEUI:ProfileID:S<serial>, never keys), the
    DevEUI, role, site and location. Without -o or --pdf, a PNG per device goes next to the registry."""
    from fleet.labels import Label, write_image, write_pdf

    euis = parse_dev_euis(dev_euis)
    if not euis and not site:
        raise UserError("give DevEUIs or --site")
    if output and (len(euis) != 1 or site):
        raise UserError("-o writes one label: give exactly one DevEUI (use --pdf for several)")
    s, reg = open_fleet(db, must_exist=True)
    with reg:
        devices = [reg.require(e) for e in euis]
        if site:
            have = set(euis)
            devices += [
                d for d in reg.devices(site=site) if d["status"] != "retired" and d["dev_eui"] not in have
            ]
            if not devices:
                raise UserError(f"no live device at site {site!r}")
        labels = [Label.for_device(d, s.profile_id) for d in devices]
        written = []
        if output:
            written.append((labels[0], write_image(labels[0], output)))
        if pdf:
            path = write_pdf(labels, pdf)
            written += [(lab, path) for lab in labels]
        if not output and not pdf:
            folder = s.db.parent / "labels"
            written += [(lab, write_image(lab, folder / f"{lab.dev_eui}.png")) for lab in labels]
        with reg.transaction():
            for lab, path in written:
                reg.add_event("label_printed", dev_eui=lab.dev_eui, detail={"file": str(path)})
    for lab, path in written:
        click.echo(f"{lab.dev_eui}  {lab.code}  {path}")
