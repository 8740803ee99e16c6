"""Every CLI command through a table of bad inputs: a clear one-line error, a non-zero exit, never a
traceback; and no silent success (a run that analysed less than asked says what and why)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, SAMPLE_STUDY
from fmslab.batch import require_some_analysed
from fmslab.errors import IncompleteRunError

BEH = REPO / "tests" / "data" / "behaviour" / "vonfrey_passive_transfer.csv"


def _study(root: Path, name: str, edit=None) -> Path:
    dest = root / name
    shutil.copytree(SAMPLE_STUDY, dest, ignore=shutil.ignore_patterns("results"))
    if edit:
        edit(dest)
    return dest


def _drop(sheet: str, column: str):
    def edit(d: Path) -> None:
        df = pd.read_csv(d / f"{sheet}.csv", dtype=str)
        df.drop(columns=column).to_csv(d / f"{sheet}.csv", index=False)

    return edit


def _rename(sheet: str, old: str, new: str):
    def edit(d: Path) -> None:
        df = pd.read_csv(d / f"{sheet}.csv", dtype=str)
        df.rename(columns={old: new}).to_csv(d / f"{sheet}.csv", index=False)

    return edit


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    f = {"root": root}
    f["no_modality"] = _study(root, "no_modality", _drop("recordings", "modality"))
    f["no_path"] = _study(root, "no_path", _drop("recordings", "path"))
    f["mouse_typo"] = _study(root, "mouse_typo", _rename("mice", "mouse_id", "mouse_idd"))
    f["bad_yaml"] = _study(
        root, "bad_yaml", lambda d: (d / "study.yaml").write_text("name: [unclosed\n")
    )
    f["one_group"] = _study(
        root,
        "one_group",
        lambda d: (d / "unblinding.csv").write_text(
            (d / "unblinding.csv").read_text().replace("HC", "FMS")
        ),
    )
    (root / "text.abf").write_text("not a recording\n")
    (root / "empty_folder").mkdir()
    (root / "folder.abf").mkdir()
    ragged = root / "ragged.csv"
    ragged.write_text(
        BEH.read_text().replace("\nM01,-1,vonfrey,left,1,", "\nM01,-1,vonfrey,x,left,1,", 1)
    )
    typo = root / "typo.csv"
    typo.write_text(BEH.read_text().replace("pattern", "patern", 1))
    (root / "latin1.csv").write_bytes("mouse_id,day,assay\nM\xfc1,0,vonfrey\n".encode("latin-1"))
    counts = root / "counts.tsv"
    counts.write_text("gene\tS1\tS2\nScn9a\t1\t2\n\t3\t4\n")
    good_counts = root / "good_counts.tsv"
    good_counts.write_text("gene\tS1\tS2\tS3\tS4\nScn9a\t1\t2\t5\t6\nTrpv1\t3\t4\t1\t0\n")
    samples = root / "samples.csv"
    samples.write_text("sample,group\nS1,A\nS2,A\nS3,B\nS4,B\n")
    (root / "spec.yaml").write_text("figures: [unclosed\n")
    (root / "notcsv.parquet").write_text("nope")
    # outcome tables for compare: HC rows without a value of y; FMS only
    rows = [(f"D{d}", f"M{d}{m}", "FMS", str(10 * d + m)) for d in (1, 2, 3) for m in (1, 2)]
    rows += [(f"E{d}", f"N{d}{m}", "HC", "") for d in (1, 2, 3) for m in (1, 2)]
    table = pd.DataFrame(rows, columns=["donor", "mouse", "group", "y"])
    table.to_csv(root / "hc_empty.csv", index=False)
    table[table["group"] == "FMS"].to_csv(root / "fms_only.csv", index=False)
    return f


def _cases(f):
    r = f["root"]
    s = str(SAMPLE_STUDY)
    return [
        # (id, argv, expected fragment of the error line)
        ("validate missing study", ["study", "validate", str(r / "nope")], "study folder not found"),
        ("catalog bad yaml", ["study", "catalog", str(f["bad_yaml"])], "not valid YAML"),
        ("catalog no modality", ["study", "catalog", str(f["no_modality"])], "modality"),
        ("query no catalog", ["study", "query", s, "SELECT 1"], "no catalog here yet"),
        ("ephys nothing", ["ephys", "analyze", "--out", str(r / "o1")], "nothing to analyse"),
        ("ephys missing file", ["ephys", "analyze", str(r / "nope.abf"), "--out", str(r / "o2")],
         "no such file or folder"),
        ("ephys empty folder", ["ephys", "analyze", str(r / "empty_folder"), "--out", str(r / "o3")],
         "no recordings"),
        ("ephys text abf", ["ephys", "analyze", str(r / "text.abf"), "--out", str(r / "o4"),
                            "--no-figures", "--jobs", "1"], "nothing analysed"),
        ("ephys study no modality", ["ephys", "analyze", "--study", str(f["no_modality"])],
         "required column is missing"),
        ("ephys study no path", ["ephys", "analyze", "--study", str(f["no_path"])],
         "column 'path'"),
        ("ephys study mouse typo", ["ephys", "analyze", "--study", str(f["mouse_typo"])],
         "column 'mouse_id'"),
        ("ephys bad qc", ["ephys", "analyze", str(r / "text.abf"), "--out", str(r / "o5"),
                          "--qc", str(r / "nope.yaml")], "nope.yaml"),
        ("ephys inspect text", ["ephys", "inspect", str(r / "text.abf")], "text.abf"),
        ("ephys inspect folder", ["ephys", "inspect", str(r / "folder.abf")], "folder.abf"),
        ("skinnerve nothing", ["skinnerve", "analyze", "--out", str(r / "o6")], "no recordings"),
        ("skinnerve folder", ["skinnerve", "analyze", str(r / "empty_folder"), "--out",
                              str(r / "o7"), "--jobs", "1"], "empty_folder"),
        ("skinnerve study no path", ["skinnerve", "analyze", "--study", str(f["no_path"])],
         "column 'path'"),
        ("skinnerve bad params", ["skinnerve", "analyze", str(r / "text.abf"), "--out",
                                  str(r / "o8"), "--params", str(r / "nope.yaml")], "nope.yaml"),
        ("behaviour nothing", ["behaviour", "analyze", "--out", str(r / "o9")], "give behaviour"),
        ("behaviour study no modality", ["behaviour", "analyze", "--study", str(f["no_modality"])],
         "required column is missing"),
        ("behaviour pattern typo", ["behaviour", "analyze", str(r / "typo.csv"), "--out",
                                    str(r / "o10")], "'patern' meant to be 'pattern'"),
        ("behaviour ragged row", ["behaviour", "analyze", str(r / "ragged.csv"), "--out",
                                  str(r / "o11")], "row 2"),
        ("behaviour latin-1 sheet", ["behaviour", "analyze", str(r / "latin1.csv"), "--out",
                                     str(r / "o12")], "latin1.csv"),
        ("behaviour bad cutoff", ["behaviour", "analyze", str(BEH), "--out", str(r / "o13"),
                                  "--cutoff", "hargreaves=x"], "ASSAY=NUMBER"),
        ("behaviour bad stats_on", ["behaviour", "analyze", str(BEH), "--out", str(r / "o14"),
                                    "--stats-on", "median"], "stats_on"),
        ("threshold bad pattern", ["behaviour", "threshold", "OXQ", "--first", "0.4"], "OXQ"),
        ("threshold unknown set", ["behaviour", "threshold", "OXOX", "--set", "nope"],
         "unknown filament set"),
        ("filaments missing csv", ["behaviour", "filaments", "--filaments", str(r / "nope.csv")],
         "nope.csv"),
        ("rnaseq empty gene", ["rnaseq", "de", "--counts", str(r / "counts.tsv"), "--samples",
                               str(samples := r / "samples.csv"), "--design", "~group", "--out",
                               str(r / "o15"), "--contrast", "group,B,A"], "gene id is empty"),
        ("rnaseq contrast not in design", ["rnaseq", "de", "--counts", str(r / "good_counts.tsv"),
                                           "--samples", str(samples), "--design", "~group",
                                           "--out", str(r / "o16"), "--contrast", "batch,A,B"],
         "batch"),
        ("rnaseq channels missing dir", ["rnaseq", "channels", str(r / "nope")], "nope"),
        ("rnaseq singlecell missing", ["rnaseq", "singlecell", "--h5ad", str(r / "nope.h5ad"),
                                       "--sample-key", "s", "--design", "~g", "--contrast",
                                       "g,A,B", "--out", str(r / "o17")], "nope.h5ad"),
        ("compare missing table", ["compare", str(r / "nope.csv"), "-o", "x", "--out",
                                   str(r / "o18")], "not found"),
        ("compare bad parquet", ["compare", str(r / "notcsv.parquet"), "-o", "x", "--out",
                                 str(r / "o19")], "notcsv.parquet"),
        ("compare no study table", ["compare", "ephys_cells", "-o", "x", "--out", str(r / "o20")],
         "--study"),
        ("compare bad ci", ["compare", str(r / "nope.csv"), "-o", "x", "--out", str(r / "o21"),
                            "--ci-method", "magic"], "ci-method"),
        ("compare study bad yaml", ["compare", "ephys_cells", "--study", str(f["bad_yaml"]), "-o",
                                    "x", "--out", str(r / "o22")], "not valid YAML"),
        ("compare one group", ["compare", str(r / "fms_only.csv"), "-o", "y", "--out",
                               str(r / "o25"), "--n-boot", "20"], "need at least 2 groups"),
        ("compare group without data", ["compare", str(r / "hc_empty.csv"), "-o", "y", "--out",
                                        str(r / "o27"), "--n-boot", "20"],
         "y FMS - HC: no rows with a value of the outcome in group HC"),
        ("figures bad spec", ["figures", "build", str(r / "spec.yaml"), "--out", str(r / "o23")],
         "spec.yaml"),
        ("figures missing spec", ["figures", "build", str(r / "nope.yaml")], "nope.yaml"),
        ("report no catalog", ["report", str(f["mouse_typo"]), "--out", str(r / "o24")], ""),
        ("report missing study", ["report", str(r / "nope")], "nope"),
        ("demo out is a file", ["demo", "--out", str(r / "text.abf"), "--small", "--no-catalog"],
         "text.abf"),
    ]  # fmt: skip


CASE_IDS = [c[0] for c in _cases({"root": Path("/x"), **{k: Path("/x") for k in (
    "no_modality", "no_path", "mouse_typo", "bad_yaml", "one_group")}})]  # fmt: skip


def _run_main(argv, capsys, monkeypatch):
    from fmslab.cli import main

    monkeypatch.setattr(sys, "argv", ["fmslab", *argv])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parametrize("case", CASE_IDS)
def test_bad_input_gives_one_clear_error(case, bad, capsys, monkeypatch):
    _, argv, fragment = next(c for c in _cases(bad) if c[0] == case)
    code, text = _run_main(argv, capsys, monkeypatch)
    assert code != 0, text
    assert "Traceback" not in text, text
    flat = " ".join(text.split())
    assert "error" in flat.lower(), text
    assert fragment in flat, (fragment, text)


def test_unexpected_exceptions_are_one_line_not_a_traceback(capsys, monkeypatch):
    """The guard of last resort: a bug anywhere still reaches the user as one line, exit 3."""
    import fmslab.study.validate as validate

    def boom(*args, **kwargs):
        raise IndexError("list index out of range")

    monkeypatch.setattr(validate, "validate_study", boom)
    code, text = _run_main(["study", "validate", str(SAMPLE_STUDY)], capsys, monkeypatch)
    assert code == 3 and "Traceback" not in text
    flat = " ".join(text.split())
    assert "unexpected IndexError" in flat and "-vv" in flat


def test_compare_with_a_group_without_data_exits_1_after_writing(bad, capsys, monkeypatch):
    """Issue item 6: a contrast no model could estimate is not a silent success (it was exit 0
    with one ``model none`` row); stats.csv is still written, --allow-failures keeps exit 0."""
    out = bad["root"] / "o_hc_empty"
    argv = ["compare", str(bad["root"] / "hc_empty.csv"), "-o", "y", "--out", str(out)]
    code, text = _run_main([*argv, "--n-boot", "20"], capsys, monkeypatch)
    assert code == 1, text
    stats = pd.read_csv(out / "stats.csv")
    assert stats[["test", "contrast", "model"]].values.tolist() == [
        ["contrast", "FMS - HC", "none"]
    ]
    code, text = _run_main([*argv, "--n-boot", "20", "--allow-failures"], capsys, monkeypatch)
    assert code == 0, text


def test_require_some_analysed_says_what_was_skipped():
    require_some_analysed("x", asked=3, skipped=[])  # all done: silent
    with pytest.raises(IncompleteRunError, match=r"x: nothing to analyse \(0 files given\)"):
        require_some_analysed("x", asked=0, skipped=[])
    with pytest.raises(
        IncompleteRunError, match="nothing analysed: all 2 file.s. skipped: a: r1; b: r2"
    ):
        require_some_analysed("x", asked=2, skipped=[("a", "r1"), ("b", "r2")])
    with pytest.raises(IncompleteRunError, match=r"1 of 2 sheet\(s\) analysed, 1 skipped: b: bad$"):
        require_some_analysed("x", asked=2, skipped=[("b", "bad")], unit="sheet")
    many = [(f"f{i}", "bad") for i in range(13)]
    with pytest.raises(IncompleteRunError, match="and 3 more$") as err:
        require_some_analysed("x", asked=20, skipped=many)
    assert err.value.exit_code == 1 and err.value.skipped == many
