"""
The Canvas token: where it comes from, and how it stays out of every log and error.

Order (README, "Configuration"): `$CREDENTIALS_DIRECTORY/canvas-token` (systemd `LoadCredential=`), then
`canvas.token_file`, then the `CANVAS_TOKEN` environment variable. The source is read again
each time Canvas answers 401, so a rotated token needs no restart.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sis_watcher.core.errors import TokenUnavailable

CREDENTIAL_NAME = "canvas-token"


class Token:
    """A secret string whose repr and str never show it; `.reveal()` is the only way out."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret itself, for the Authorization header only."""
        return self._value

    def __repr__(self) -> str:
        return "Token('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Token) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class LoadedToken:
    token: Token
    source: str


def clean(text: str, *, source: str) -> str:
    """Strip surrounding whitespace; refuse empty values and ones that would break a header."""
    value = text.strip()
    if not value:
        raise TokenUnavailable(f"{source} is empty")
    if not value.isascii() or any(character.isspace() or ord(character) < 32 for character in value):
        raise TokenUnavailable(f"{source} contains whitespace, control or non-ASCII characters")
    return value


class TokenSource:
    """Finds the token each time it is asked, in the documented order."""

    def __init__(self, *, token_file: Path | None, environ: Mapping[str, str] | None = None) -> None:
        self.token_file = token_file
        self.environ = os.environ if environ is None else environ

    def candidates(self) -> list[tuple[str, Path | None, str | None]]:
        """Return (description, file, env value) for each place the token may be, in order."""
        places: list[tuple[str, Path | None, str | None]] = []
        credentials_directory = self.environ.get("CREDENTIALS_DIRECTORY")
        if credentials_directory:
            path = Path(credentials_directory) / CREDENTIAL_NAME
            places.append((f"systemd credential {CREDENTIAL_NAME} ({path})", path, None))
        if self.token_file is not None:
            places.append((f"canvas.token_file ({self.token_file})", self.token_file, None))
        places.append(("environment variable CANVAS_TOKEN", None, self.environ.get("CANVAS_TOKEN")))
        return places

    def load(self) -> LoadedToken:
        """Return the token from the first place that has one; raise `TokenUnavailable`."""
        looked = []
        for description, path, value in self.candidates():
            if path is not None:
                try:
                    text = path.read_text(encoding="utf-8")
                except FileNotFoundError:
                    looked.append(f"{description}: no such file")
                    continue
                except (OSError, UnicodeDecodeError) as error:
                    raise TokenUnavailable(
                        f"{description}: cannot read ({error.__class__.__name__})"
                    ) from None
                return LoadedToken(Token(clean(text, source=description)), description)
            if value:
                return LoadedToken(Token(clean(value, source=description)), description)
            looked.append(f"{description}: not set")
        raise TokenUnavailable("no Canvas token found; looked at " + "; ".join(looked))
