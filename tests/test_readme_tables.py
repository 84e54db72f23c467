import pytest

from knewimp.report.readme import fill_markers, main


def test_fills_between_markers_and_demotes_heading(tmp_path):
    (tmp_path / "mcar_mae.md").write_text("# MCAR, MAE\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    doc = "intro\n<!-- results:mcar_mae -->\nold numbers\n<!-- /results:mcar_mae -->\nend\n"
    out, missing = fill_markers(doc, tmp_path)
    assert missing == []
    assert "old numbers" not in out
    assert "**MCAR, MAE**\n\n| a | b |" in out
    assert out.startswith("intro\n<!-- results:mcar_mae -->\n") and out.endswith("<!-- /results:mcar_mae -->\nend\n")
    # idempotent: filling again gives the same document
    assert fill_markers(out, tmp_path)[0] == out


def test_missing_table_is_noted_and_unclosed_marker_refused(tmp_path):
    out, missing = fill_markers("<!-- results:mar_wass -->\nx\n<!-- /results:mar_wass -->\n", tmp_path)
    assert missing == ["mar_wass"] and "has not been generated yet" in out
    with pytest.raises(ValueError, match="mar_mae"):
        fill_markers("<!-- results:mar_mae -->\nx\n", tmp_path)


def test_cli_rewrites_file(tmp_path, capsys):
    (tmp_path / "t.md").write_text("# T\nrow\n")
    doc = tmp_path / "README.md"
    doc.write_text("<!-- results:t -->\n<!-- /results:t -->\n")
    assert main([str(doc), "--tables", str(tmp_path)]) == 0
    assert doc.read_text() == "<!-- results:t -->\n**T**\nrow\n<!-- /results:t -->\n"
    assert main([str(tmp_path / "absent.md")]) == 2
    assert "absent.md" in capsys.readouterr().err
