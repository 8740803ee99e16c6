"""Check an Igor binary wave (.ibw) header against the file's real size before neo/igor2 read it.

igor2 sizes its parsing from the header's section sizes: a units string claimed to be 16 MB long
in a 49 kB file (one flipped byte) kept it busy for seconds building a struct format of that many
fields, and the time grows with the claim. :func:`check_ibw_header` refuses a header whose
sections (wave, formula, note, units, dimension labels, ...) add up to more than the file holds,
or that claims a negative size. The layouts are those of Igor's technical note PTN003
(``BinHeader1/2/3/5``); the byte order is the one in which the version number reads 1, 2, 3 or 5.
"""

from __future__ import annotations

import struct
from pathlib import Path

from fmslab.errors import InputError

#: version -> (header bytes, struct format after the version, names of the size fields)
LAYOUTS = {
    1: (8, "i", ("wfmSize",)),
    2: (16, "iii", ("wfmSize", "noteSize", "pictSize")),
    3: (20, "iiii", ("wfmSize", "noteSize", "formulaSize", "pictSize")),
    5: (
        64,
        "h" + "i" * 15,
        ("checksum", "wfmSize", "formulaSize", "noteSize", "dataEUnitsSize")
        + tuple(f"dimEUnitsSize[{k}]" for k in range(4))
        + tuple(f"dimLabelsSize[{k}]" for k in range(4))
        + ("sIndicesSize", "optionsSize1", "optionsSize2"),
    ),
}


def check_ibw_header(path: str | Path) -> None:
    """Refuse an Igor binary wave whose header claims more bytes than the file holds.

    Raises
    ------
    InputError
        A negative section size, or sections adding up past the end of the file (the message
        names the field, its value and the file's size). A file too short for its header or of
        an unknown version is left to neo, which refuses it.
    """
    p = Path(path)
    try:
        size = p.stat().st_size
        with open(p, "rb") as fh:
            head = fh.read(64)
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror or exc})", file=p.name) from exc
    if len(head) < 2:
        return
    for order in "<>":
        version = struct.unpack_from(order + "h", head, 0)[0]
        if version in LAYOUTS:
            break
    else:
        return
    n_head, fmt, names = LAYOUTS[version]
    if len(head) < n_head:
        return
    values = dict(zip(names, struct.unpack_from(order + fmt, head, 2), strict=True))
    values.pop("checksum", None)
    for name, value in values.items():
        if value < 0:
            raise InputError(
                f"damaged Igor wave header (version {version}): {name} = {value}", file=p.name
            )
    total = n_head + sum(values.values())
    if total > size:
        big = max(values, key=lambda k: values[k])
        raise InputError(
            f"damaged Igor wave header (version {version}): its sections add up to {total} bytes "
            f"({big} = {values[big]}), more than the {size}-byte file",
            file=p.name,
        )
