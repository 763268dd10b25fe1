"""Unit tests for `sis_watcher.canvas.credentials`: where the token comes from and how it stays secret."""

from __future__ import annotations

import pytest

from sis_watcher.canvas.credentials import CREDENTIAL_NAME, LoadedToken, Token, TokenSource, clean
from sis_watcher.core.errors import TokenUnavailable

SECRET = "7~AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"


@pytest.fixture
def places(tmp_path):
    """A systemd credentials folder and a token file, both empty for now."""
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    return credentials, tmp_path / "token"


class TestOrder:
    def test_systemd_credential_comes_first(self, places):
        """$CREDENTIALS_DIRECTORY/canvas-token wins over token_file and CANVAS_TOKEN."""
        credentials, token_file = places
        (credentials / CREDENTIAL_NAME).write_text("from-systemd\n", encoding="utf-8")
        token_file.write_text("from-file\n", encoding="utf-8")
        environ = {"CREDENTIALS_DIRECTORY": str(credentials), "CANVAS_TOKEN": "from-env"}

        loaded = TokenSource(token_file=token_file, environ=environ).load()

        assert loaded.token.reveal() == "from-systemd"
        assert loaded.source == f"systemd credential canvas-token ({credentials / CREDENTIAL_NAME})"

    def test_token_file_comes_second(self, places):
        """Without a systemd credential file, canvas.token_file wins over CANVAS_TOKEN."""
        credentials, token_file = places
        token_file.write_text("from-file", encoding="utf-8")
        environ = {"CREDENTIALS_DIRECTORY": str(credentials), "CANVAS_TOKEN": "from-env"}

        loaded = TokenSource(token_file=token_file, environ=environ).load()

        assert loaded.token.reveal() == "from-file"
        assert loaded.source == f"canvas.token_file ({token_file})"

    def test_environment_comes_last(self, places):
        """With neither file, CANVAS_TOKEN is used."""
        _credentials, token_file = places

        loaded = TokenSource(token_file=token_file, environ={"CANVAS_TOKEN": "from-env"}).load()

        assert loaded == LoadedToken(Token("from-env"), "environment variable CANVAS_TOKEN")

    def test_empty_credentials_directory_variable_is_ignored(self):
        """CREDENTIALS_DIRECTORY set to "" is not a folder to look in."""
        source = TokenSource(token_file=None, environ={"CREDENTIALS_DIRECTORY": "", "CANVAS_TOKEN": "x"})

        assert [place[0] for place in source.candidates()] == ["environment variable CANVAS_TOKEN"]

    def test_nothing_found_lists_every_place_looked_at(self, places):
        """No token anywhere is a TokenUnavailable naming each place and why it did not count."""
        credentials, token_file = places
        environ = {"CREDENTIALS_DIRECTORY": str(credentials), "CANVAS_TOKEN": ""}

        with pytest.raises(TokenUnavailable) as caught:
            TokenSource(token_file=token_file, environ=environ).load()

        assert str(caught.value) == (
            "no Canvas token found; looked at "
            f"systemd credential canvas-token ({credentials / CREDENTIAL_NAME}): no such file; "
            f"canvas.token_file ({token_file}): no such file; "
            "environment variable CANVAS_TOKEN: not set"
        )

    def test_default_environment_is_the_process_environment(self, monkeypatch):
        """Without `environ=`, the process environment is read."""
        monkeypatch.setenv("CANVAS_TOKEN", "from-process")
        monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)

        assert TokenSource(token_file=None).load().token.reveal() == "from-process"

    def test_source_is_read_again_on_every_load(self, places):
        """A rotated token file is picked up by the next load (no caching here)."""
        _credentials, token_file = places
        source = TokenSource(token_file=token_file, environ={})
        token_file.write_text("first", encoding="utf-8")
        first = source.load().token.reveal()

        token_file.write_text("second", encoding="utf-8")

        assert (first, source.load().token.reveal()) == ("first", "second")


class TestCleaning:
    @pytest.mark.parametrize("text", [f"{SECRET}\n", f"  {SECRET}\t\r\n", f"\n{SECRET}"])
    def test_surrounding_whitespace_is_stripped(self, places, text):
        """A trailing newline (echo > file) or stray spaces around the token are removed."""
        _credentials, token_file = places
        token_file.write_text(text, encoding="utf-8")

        assert TokenSource(token_file=token_file, environ={}).load().token.reveal() == SECRET

    @pytest.mark.parametrize("text", ["", " ", "\n\n", "\t"])
    def test_empty_file_is_refused(self, places, text):
        """A token file with nothing but whitespace is an error, not a fall-through."""
        _credentials, token_file = places
        token_file.write_text(text, encoding="utf-8")

        with pytest.raises(TokenUnavailable, match=r"canvas\.token_file .* is empty"):
            TokenSource(token_file=token_file, environ={"CANVAS_TOKEN": "unused"}).load()

    def test_blank_environment_variable_is_refused(self):
        """CANVAS_TOKEN made only of spaces is refused as empty."""
        with pytest.raises(TokenUnavailable, match="environment variable CANVAS_TOKEN is empty"):
            TokenSource(token_file=None, environ={"CANVAS_TOKEN": "   "}).load()

    @pytest.mark.parametrize(
        "value",
        ["abc def", "abc\ndef", "abc\rdef", "abc\x00def", "abc\x1bdef", "abc\tdef", "tökén-abc"],
    )
    def test_characters_that_break_a_header_are_refused(self, value):
        """Inner whitespace, control characters and non-ASCII would break (or leak through) the Authorization header."""
        with pytest.raises(TokenUnavailable, match="CANVAS_TOKEN") as caught:
            clean(value, source="CANVAS_TOKEN")

        assert value not in str(caught.value)

    def test_unreadable_file_is_refused_without_falling_through(self, places):
        """A token file that exists but cannot be read (a folder here) is an error naming the cause."""
        _credentials, token_file = places
        token_file.mkdir()

        with pytest.raises(TokenUnavailable) as caught:
            TokenSource(token_file=token_file, environ={"CANVAS_TOKEN": "unused"}).load()

        assert str(caught.value) == f"canvas.token_file ({token_file}): cannot read (IsADirectoryError)"

    def test_file_that_is_not_utf8_is_refused(self, places):
        """Binary garbage in the token file is refused, and not shown in the error."""
        _credentials, token_file = places
        token_file.write_bytes(b"\xff\xfe\xfd")

        with pytest.raises(TokenUnavailable, match=r"cannot read \(UnicodeDecodeError\)"):
            TokenSource(token_file=token_file, environ={}).load()


class TestSecrecy:
    def test_repr_and_str_hide_the_token(self):
        """A token printed, formatted or logged by accident shows stars."""
        token = Token(SECRET)

        assert repr(token) == "Token('***')"
        assert str(token) == "Token('***')"
        assert SECRET not in f"{token} {token!r} {[token]} {LoadedToken(token, 'x')}"

    def test_reveal_is_the_only_way_out(self):
        """reveal() returns the value itself."""
        assert Token(SECRET).reveal() == SECRET

    def test_tokens_compare_and_hash_by_value(self):
        """Two tokens with one value are equal and hash alike; a token is never equal to its string."""
        assert Token("a1b2") == Token("a1b2")
        assert hash(Token("a1b2")) == hash(Token("a1b2"))
        assert Token("a1b2") != Token("c3d4")
        assert Token("a1b2") != "a1b2"

    def test_errors_never_contain_the_token(self, places):
        """A refused token's own text is never part of the error."""
        _credentials, token_file = places
        token_file.write_text(f"{SECRET} {SECRET}", encoding="utf-8")

        with pytest.raises(TokenUnavailable) as caught:
            TokenSource(token_file=token_file, environ={}).load()

        assert SECRET not in str(caught.value)
        assert SECRET not in repr(caught.value)
