from jobs.privacy import read_opt_out, user_of_line


def test_opt_out_list_ignores_comments_and_blanks(tmp_path):
    path = tmp_path / "opt-out.txt"
    path.write_text("# requests of January\nu-1\n\n  u-2  \n")
    assert read_opt_out(path) == {"u-1", "u-2"}
    assert read_opt_out(None) == frozenset()


def test_missing_opt_out_list_says_which_setting(tmp_path):
    import pytest

    with pytest.raises(FileNotFoundError, match="EMODRIFT_OPT_OUT_LIST"):
        read_opt_out(tmp_path / "nope.txt")


def test_user_of_line_reads_only_json_objects():
    assert user_of_line('{"user_id": " u-1 ", "post_id": 3}') == "u-1"
    assert user_of_line('{"user_id": 7}') is None
    assert user_of_line("[1]") is None and user_of_line("{broken") is None and user_of_line(None) is None
