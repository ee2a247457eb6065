"""`python -m lossforge.export -o FILE`: a missing directory is refused (not created: a typo in
it would be), a file in the way and a directory the system will not write into are named; one
line each, exit code 2."""

from __future__ import annotations

from lossforge.export.__main__ import main

FORMULA = ["--formula", "p*log(p)"]


def test_a_missing_directory_is_refused_not_created(tmp_path, capsys):
    out = tmp_path / "nonexistent" / "dir" / "x.py"
    assert main([*FORMULA, "-o", str(out)]) == 2
    assert capsys.readouterr().err == (f"error: -o {out}: directory {out.parent} does not "
                                       "exist\n")
    assert not (tmp_path / "nonexistent").exists()


def test_a_file_in_the_way_is_named(tmp_path, capsys):
    (tmp_path / "afile").write_text("")
    for out in (tmp_path / "afile" / "x.py", tmp_path / "afile" / "sub" / "x.py"):
        assert main([*FORMULA, "-o", str(out)]) == 2
        assert capsys.readouterr().err == (f"error: -o {out}: {tmp_path / 'afile'} is not a "
                                           "directory\n")


def test_a_directory_the_system_will_not_write_into_says_so(tmp_path, capsys, monkeypatch):
    """Creating a file in /proc fails with "no such file or directory", though /proc is there:
    the message says where the file could not be created."""
    import lossforge.io

    out = tmp_path / "x.py"

    def refuse(path, text):
        raise FileNotFoundError(2, "No such file or directory", str(tmp_path / ".x.py.1.tmp"))

    monkeypatch.setattr(lossforge.io, "atomic_write_text", refuse)
    assert main([*FORMULA, "-o", str(out)]) == 2
    assert capsys.readouterr().err == (f"error: -o {out}: cannot create a file in {tmp_path} "
                                       "(no such file or directory)\n")


def test_an_existing_directory_is_written_into(tmp_path, capsys):
    out = tmp_path / "x.py"
    assert main([*FORMULA, "-o", str(out)]) == 0
    assert "def " in out.read_text() and capsys.readouterr().err == ""
