"""The prompt hub: push immutable prompt versions, resolve ``NAME[@VERSION|@TAG]``, move tags, diff versions.

Persistence is the collector's :class:`~collector.store.database.Store`: every write runs on its single writer
thread inside one transaction, so a push or a tag move is stored whole or not at all, and concurrent pushes
of the same prompt get consecutive version numbers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson

from collector.queries.filters import as_utc
from collector.store.database import Store
from replay.errors import InvalidInput, NotFound
from replay.prompts.diff import diff_versions
from replay.prompts.models import (
    Prompt,
    PromptDiff,
    PromptTag,
    PromptVersion,
    PromptVersionInput,
    TagMove,
    check_prompt_name,
    check_tag_name,
    content_hash,
)

__all__ = ["PromptHub", "parse_ref"]

_VERSION_COLUMNS = (
    "prompt_name, version, template, model_provider, model_name, invocation_parameters, tools, "
    "response_format, metadata, commit_message, created_at, content_hash"
)
_MOVE_COLUMNS = "prompt_name, tag, from_version, to_version, moved_at, note"


def parse_ref(ref: str) -> tuple[str, int | None, str | None]:
    """``NAME``, ``NAME@3``, ``NAME@production`` or ``NAME@latest`` → (name, version, tag).

    Raises :class:`InvalidInput` for a malformed name, version or tag.
    """
    name, _, after = ref.partition("@")
    try:
        check_prompt_name(name)
        if not after or after == "latest":
            return name, None, None
        if after.isdigit():
            return name, _check_version(int(after)), None
        return name, None, check_tag_name(after)
    except ValueError as exc:
        raise InvalidInput(f"prompt reference {ref[:80]!r}: {exc}") from None


class PromptHub:
    """Prompts, versions and tags in the store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- writes -------------------------------------------------------------------------------------------------
    def push(self, data: PromptVersionInput) -> tuple[PromptVersion, bool]:
        """Make a new version from ``data`` and return ``(version, True)``.

        When the prompt already has a version with the same content hash, nothing new is made and that
        version is returned with ``False``. The prompt is created on its first push; a ``description``
        replaces the prompt's description either way.
        """
        digest = content_hash(data.content())
        now = _now()

        def write(con: duckdb.DuckDBPyConnection) -> tuple[int, bool]:
            exists = con.execute("SELECT 1 FROM prompts WHERE name = ?", [data.name]).fetchone()
            if exists is None:
                con.execute("INSERT INTO prompts VALUES (?, ?, ?)", [data.name, data.description, now])
            elif data.description is not None:
                con.execute("UPDATE prompts SET description = ? WHERE name = ?", [data.description, data.name])
            same = con.execute(
                "SELECT version FROM prompt_versions WHERE prompt_name = ? AND content_hash = ? ORDER BY version",
                [data.name, digest],
            ).fetchone()
            if same is not None:
                return int(same[0]), False
            version = _latest(con, data.name) + 1
            content = data.content()
            con.execute(
                f"INSERT INTO prompt_versions ({_VERSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    data.name,
                    version,
                    _json(content["template"]),
                    data.model_provider,
                    data.model_name,
                    _json(data.invocation_parameters),
                    None if data.tools is None else _json(data.tools),
                    None if data.response_format is None else _json(data.response_format),
                    _json(data.metadata),
                    data.commit_message,
                    now,
                    digest,
                ],
            )
            return version, True

        version, created = self.store.write(write).result()
        return self.get(data.name, version=version), created

    def move_tag(self, name: str, tag: str, version: int, *, note: str | None = None) -> TagMove:
        """Point ``tag`` at ``version`` (creating the tag if new) and record the move; return the move.

        Rolling back is moving a tag to an older version. Moving a tag to the version it already points at
        records nothing and returns the tag's last move. :class:`NotFound` for an unknown prompt or version,
        :class:`InvalidInput` for a malformed tag name.
        """
        try:
            check_tag_name(tag)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        _check_version(version)
        now = _now()

        def write(con: duckdb.DuckDBPyConnection) -> TagMove:
            _require_version(con, name, version)
            row = con.execute(
                "SELECT version FROM prompt_tags WHERE prompt_name = ? AND tag = ?", [name, tag]
            ).fetchone()
            before = None if row is None else int(row[0])
            if before == version:
                return _moves(con, name, tag, limit=1)[0]
            if row is None:
                con.execute("INSERT INTO prompt_tags VALUES (?, ?, ?, ?)", [name, tag, version, now])
            else:
                con.execute(
                    "UPDATE prompt_tags SET version = ?, updated_at = ? WHERE prompt_name = ? AND tag = ?",
                    [version, now, name, tag],
                )
            seq_row = con.execute(
                "SELECT coalesce(max(seq), 0) + 1 FROM prompt_tag_moves WHERE prompt_name = ?", [name]
            ).fetchone()
            seq = int(seq_row[0]) if seq_row else 1
            con.execute(
                "INSERT INTO prompt_tag_moves VALUES (?, ?, ?, ?, ?, ?, ?)",
                [name, seq, tag, before, version, now, note],
            )
            return TagMove(
                prompt_name=name, tag=tag, from_version=before, to_version=version, moved_at=as_utc(now), note=note
            )

        return self.store.write(write).result()

    # -- reads --------------------------------------------------------------------------------------------------
    def get(self, name: str, *, version: int | None = None, tag: str | None = None) -> PromptVersion:
        """One version: by number, by tag, or the newest when neither is given; :class:`NotFound` otherwise."""
        if version is not None and tag is not None:
            raise InvalidInput("give a version or a tag, not both")

        def read(con: duckdb.DuckDBPyConnection) -> PromptVersion:
            wanted = version
            if tag is not None:
                wanted = _tag_version(con, name, tag)
            elif wanted is None:
                _require_prompt(con, name)
                wanted = _latest(con, name)
            row = con.execute(
                f"SELECT {_VERSION_COLUMNS} FROM prompt_versions WHERE prompt_name = ? AND version = ?",
                [name, wanted],
            ).fetchone()
            if row is None:
                _require_version(con, name, wanted)
            assert row is not None
            return _version(row, _tags_of(con, name).get(int(row[1]), []))

        return self.store.read(read)

    def resolve(self, ref: str) -> PromptVersion:
        """The version ``NAME``, ``NAME@3``, ``NAME@production`` or ``NAME@latest`` names."""
        name, version, tag = parse_ref(ref)
        return self.get(name, version=version, tag=tag)

    def get_prompt(self, name: str) -> Prompt:
        """A prompt with its tags and newest version number; :class:`NotFound` when unknown."""

        def read(con: duckdb.DuckDBPyConnection) -> Prompt:
            _require_prompt(con, name)
            return _prompts(con, "WHERE p.name = ?", [name])[0]

        return self.store.read(read)

    def list_prompts(self) -> list[Prompt]:
        """Every prompt, by name."""
        return self.store.read(lambda con: _prompts(con, "", []))

    def versions(self, name: str) -> list[PromptVersion]:
        """A prompt's versions, newest first; :class:`NotFound` for an unknown prompt."""

        def read(con: duckdb.DuckDBPyConnection) -> list[PromptVersion]:
            _require_prompt(con, name)
            tags = _tags_of(con, name)
            rows = con.execute(
                f"SELECT {_VERSION_COLUMNS} FROM prompt_versions WHERE prompt_name = ? ORDER BY version DESC", [name]
            ).fetchall()
            return [_version(row, tags.get(int(row[1]), [])) for row in rows]

        return self.store.read(read)

    def tags(self, name: str) -> list[PromptTag]:
        """Where each of a prompt's tags points now, by tag name."""

        def read(con: duckdb.DuckDBPyConnection) -> list[PromptTag]:
            _require_prompt(con, name)
            rows = con.execute(
                "SELECT tag, version, updated_at FROM prompt_tags WHERE prompt_name = ? ORDER BY tag", [name]
            ).fetchall()
            return [PromptTag(tag=t, version=v, updated_at=as_utc(at)) for t, v, at in rows]

        return self.store.read(read)

    def tag_history(self, name: str, tag: str | None = None) -> list[TagMove]:
        """Every move of the prompt's tags (of one tag when given), newest first."""

        def read(con: duckdb.DuckDBPyConnection) -> list[TagMove]:
            _require_prompt(con, name)
            return _moves(con, name, tag)

        return self.store.read(read)

    def diff(self, name: str, a: int, b: int) -> PromptDiff:
        """What changed from version ``a`` to version ``b`` (messages and every other field)."""
        return diff_versions(self.get(name, version=_check_version(a)), self.get(name, version=_check_version(b)))


# -- queries --------------------------------------------------------------------------------------------------
def _prompts(con: duckdb.DuckDBPyConnection, where: str, params: list[Any]) -> list[Prompt]:
    rows = con.execute(
        "SELECT p.name, p.description, p.created_at, "
        "(SELECT max(version) FROM prompt_versions v WHERE v.prompt_name = p.name), "
        "(SELECT coalesce(list({'tag': t.tag, 'version': t.version} ORDER BY t.tag), []) "
        " FROM prompt_tags t WHERE t.prompt_name = p.name) "
        f"FROM prompts p {where} ORDER BY p.name",
        params,
    ).fetchall()
    return [
        Prompt(
            name=name,
            description=description,
            created_at=as_utc(created_at),
            latest_version=latest,
            tags={item["tag"]: item["version"] for item in tags},
        )
        for name, description, created_at, latest, tags in rows
    ]


def _moves(con: duckdb.DuckDBPyConnection, name: str, tag: str | None, *, limit: int | None = None) -> list[TagMove]:
    where, params = "prompt_name = ?", [name]
    if tag is not None:
        where += " AND tag = ?"
        params.append(tag)
    tail = f" LIMIT {int(limit)}" if limit else ""
    rows = con.execute(
        f"SELECT {_MOVE_COLUMNS} FROM prompt_tag_moves WHERE {where} ORDER BY seq DESC{tail}", params
    ).fetchall()
    return [
        TagMove(prompt_name=p, tag=t, from_version=f, to_version=v, moved_at=as_utc(at), note=note)
        for p, t, f, v, at, note in rows
    ]


def _tags_of(con: duckdb.DuckDBPyConnection, name: str) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for tag, version in con.execute(
        "SELECT tag, version FROM prompt_tags WHERE prompt_name = ? ORDER BY tag", [name]
    ).fetchall():
        out.setdefault(int(version), []).append(tag)
    return out


def _latest(con: duckdb.DuckDBPyConnection, name: str) -> int:
    row = con.execute("SELECT coalesce(max(version), 0) FROM prompt_versions WHERE prompt_name = ?", [name]).fetchone()
    return int(row[0]) if row else 0


def _tag_version(con: duckdb.DuckDBPyConnection, name: str, tag: str) -> int:
    row = con.execute("SELECT version FROM prompt_tags WHERE prompt_name = ? AND tag = ?", [name, tag]).fetchone()
    if row is None:
        _require_prompt(con, name)
        known = [
            t
            for (t,) in con.execute("SELECT tag FROM prompt_tags WHERE prompt_name = ? ORDER BY tag", [name]).fetchall()
        ]
        raise NotFound(f"prompt {name!r} has no tag {tag!r} (tags: {', '.join(known) or 'none'})")
    return int(row[0])


def _require_prompt(con: duckdb.DuckDBPyConnection, name: str) -> None:
    if con.execute("SELECT 1 FROM prompts WHERE name = ?", [name]).fetchone() is None:
        raise NotFound(f"no prompt named {name!r}")


def _require_version(con: duckdb.DuckDBPyConnection, name: str, version: int) -> None:
    _require_prompt(con, name)
    if (
        con.execute("SELECT 1 FROM prompt_versions WHERE prompt_name = ? AND version = ?", [name, version]).fetchone()
        is None
    ):
        raise NotFound(f"prompt {name!r} has no version {version} (latest is {_latest(con, name)})")


def _version(row: tuple[Any, ...], tags: list[str]) -> PromptVersion:
    name, version, template, provider, model, params, tools, response_format, metadata, message, at, digest = row
    return PromptVersion(
        prompt_name=name,
        version=version,
        template=orjson.loads(template),
        model_provider=provider,
        model_name=model,
        invocation_parameters=orjson.loads(params),
        tools=None if tools is None else orjson.loads(tools),
        response_format=None if response_format is None else orjson.loads(response_format),
        metadata=orjson.loads(metadata),
        commit_message=message,
        created_at=as_utc(at),
        content_hash=digest,
        tags=tags,
    )


def _check_version(version: int) -> int:
    if version < 1 or version > 2**31 - 1:
        raise InvalidInput(f"version {version} is not valid: versions are numbered from 1")
    return version


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
