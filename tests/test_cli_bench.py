"""The benchmark runner: runs benchmarks/NAME.py and replaces the text between NAME's markers in BENCHMARKS.md."""

import pytest

from thrust.bench import replace_section, run_benchmarks, section_names

MARKDOWN = """# Benchmarks

## A
<!-- begin alpha -->
(not yet measured)
<!-- end alpha -->

## B
<!-- begin beta -->
old beta table
<!-- end beta -->
"""


def make_repo(tmp_path, scripts):
    (tmp_path / "BENCHMARKS.md").write_text(MARKDOWN)
    (tmp_path / "benchmarks").mkdir()
    for name, source in scripts.items():
        (tmp_path / "benchmarks" / f"{name}.py").write_text(source)
    return tmp_path


def test_sections_are_found_and_replaced_between_their_markers():
    assert section_names(MARKDOWN) == ["alpha", "beta"]
    updated = replace_section(MARKDOWN, "beta", "| x |\n|---|\n| 1 |\n")
    assert "<!-- begin beta -->\n| x |\n|---|\n| 1 |\n<!-- end beta -->" in updated
    assert updated.replace("| x |\n|---|\n| 1 |\n", "old beta table\n") == MARKDOWN
    with pytest.raises(ValueError, match="gamma"):
        replace_section(MARKDOWN, "gamma", "x")


def test_tables_replace_their_sections_and_a_failing_script_leaves_its_own(tmp_path, capsys):
    root = make_repo(
        tmp_path,
        {
            "alpha": "import sys\nprint('| quick |' if '--quick' in sys.argv else '| full |')\n",
            "beta": "raise SystemExit(3)\n",
        },
    )
    with pytest.raises(RuntimeError, match="beta.py failed with exit status 3"):
        run_benchmarks(root=root)
    text = (root / "BENCHMARKS.md").read_text()
    assert "<!-- begin alpha -->\n| full |\n<!-- end alpha -->" in text
    assert "<!-- begin beta -->\nold beta table\n<!-- end beta -->" in text
    assert "| full |" in capsys.readouterr().out


def test_quick_runs_print_but_do_not_write(tmp_path, capsys):
    root = make_repo(tmp_path, {"alpha": "import sys\nprint('| quick |' if '--quick' in sys.argv else '| full |')\n"})
    assert run_benchmarks(["alpha"], root=root, quick=True, write=False) == {"alpha": "| quick |\n"}
    assert (root / "BENCHMARKS.md").read_text() == MARKDOWN


def test_unknown_sections_and_missing_scripts_are_clear_errors(tmp_path):
    root = make_repo(tmp_path, {"alpha": "print('| a |')\n"})
    with pytest.raises(ValueError, match="no section .* for \\['gamma'\\]"):
        run_benchmarks(["gamma"], root=root)
    with pytest.raises(FileNotFoundError, match="beta"):
        run_benchmarks(["beta"], root=root)
    with pytest.raises(FileNotFoundError, match="repository root"):
        run_benchmarks(root=tmp_path / "elsewhere")
