"""Datasets under ``/api/v1/datasets``: examples (each change a new version), import/export, promotion of spans."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from collector.queries.filters import Page
from collector.store.database import Store
from replay.datasets.files import FileFormat, export_csv, export_jsonl, parse_csv, parse_jsonl
from replay.datasets.models import (
    Dataset,
    DatasetChange,
    DatasetInput,
    DatasetVersion,
    Example,
    ExamplesInput,
    ExampleUpdate,
)
from replay.datasets.promote import PromotionFilters, PromotionResult, promote_spans
from replay.datasets.store import DatasetStore
from replay.errors import InvalidInput, TooLarge
from ui.deps import get_store

__all__ = ["MAX_IMPORT_BYTES", "router"]

router = APIRouter(tags=["datasets"])

MAX_IMPORT_BYTES = 32 * 1024 * 1024
NamePath = Annotated[str, Path(max_length=200, description="The dataset's name.")]
ExampleIdPath = Annotated[str, Path(max_length=100, description="The example's id.")]
VersionQuery = Annotated[
    int | None, Query(ge=0, le=2**31 - 1, description="A dataset version; the current one when omitted.")
]
ColumnsQuery = Annotated[list[str] | None, Query(max_length=1000)]
_MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv"}


def get_datasets(store: Store = Depends(get_store)) -> DatasetStore:
    return DatasetStore(store)


@router.post("/datasets", response_model=Dataset, status_code=201)
def create(body: DatasetInput, datasets: DatasetStore = Depends(get_datasets)) -> Dataset:
    """Create an empty dataset (version 0); 409 when the name is taken."""
    return datasets.create(body)


@router.get("/datasets", response_model=Page[Dataset])
def list_datasets(datasets: DatasetStore = Depends(get_datasets)) -> Page[Dataset]:
    """Every dataset with its current version and example count, by name (not paged)."""
    return Page(data=datasets.list_datasets())


@router.get("/datasets/{name}", response_model=Dataset)
def dataset(name: NamePath, datasets: DatasetStore = Depends(get_datasets)) -> Dataset:
    """One dataset; 404 when unknown."""
    return datasets.get_dataset(name)


@router.get("/datasets/{name}/versions", response_model=list[DatasetVersion])
def versions(name: NamePath, datasets: DatasetStore = Depends(get_datasets)) -> list[DatasetVersion]:
    """The dataset's versions, newest first, each with the note of the change that made it."""
    return datasets.versions(name)


@router.get("/datasets/{name}/examples", response_model=Page[Example])
def examples(
    name: NamePath, version: VersionQuery = None, datasets: DatasetStore = Depends(get_datasets)
) -> Page[Example]:
    """The examples of a version (current by default) in the order they were added (not paged)."""
    return Page(data=datasets.get_examples(name, version=version))


@router.post("/datasets/{name}/examples", response_model=DatasetChange, status_code=201)
def add_examples(name: NamePath, body: ExamplesInput, datasets: DatasetStore = Depends(get_datasets)) -> DatasetChange:
    """Add examples (at most 10,000) in one new version; 404 for an unknown dataset."""
    return datasets.add_examples(name, body.examples)


@router.get("/datasets/{name}/examples/{example_id}", response_model=Example)
def example(
    name: NamePath,
    example_id: ExampleIdPath,
    version: VersionQuery = None,
    datasets: DatasetStore = Depends(get_datasets),
) -> Example:
    """One example as it is in a version (current by default); 404 when it is not there."""
    return datasets.get_example(name, example_id, version=version)


@router.patch("/datasets/{name}/examples/{example_id}", response_model=Example)
def edit_example(
    name: NamePath, example_id: ExampleIdPath, body: ExampleUpdate, datasets: DatasetStore = Depends(get_datasets)
) -> Example:
    """Edit an example (e.g. set or fix ``expected_output``) in a new version; only the fields given change."""
    return datasets.update_example(name, example_id, body)


@router.delete("/datasets/{name}/examples/{example_id}", response_model=DatasetChange)
def delete_example(
    name: NamePath, example_id: ExampleIdPath, datasets: DatasetStore = Depends(get_datasets)
) -> DatasetChange:
    """Remove an example in a new version (older versions keep it)."""
    return datasets.delete_example(name, example_id)


@router.post("/datasets/{name}/import", response_model=DatasetChange, status_code=201)
async def import_file(
    name: NamePath,
    request: Request,
    format: Annotated[FileFormat, Query(description="jsonl or csv.")] = "jsonl",
    input_columns: ColumnsQuery = None,
    expected_column: Annotated[str | None, Query(max_length=200)] = None,
    metadata_columns: ColumnsQuery = None,
    filename: Annotated[str | None, Query(max_length=500, description="Named in error messages.")] = None,
    datasets: DatasetStore = Depends(get_datasets),
) -> DatasetChange:
    """Import a JSONL or CSV file (the request body, UTF-8, at most 32 MiB) as one new version.

    The dataset is created when missing. CSV options choose the input columns, the expected-output column
    and the metadata columns (see ``replay.datasets.files``). The first bad line gives 422 naming the line;
    nothing is stored then. 413 past the size limit.
    """
    text = await _read_text(request)
    source = filename or "the file"

    def parse_and_add() -> DatasetChange:
        if format == "csv":
            parsed = parse_csv(
                text,
                source=source,
                input_columns=input_columns,
                expected_column=expected_column,
                metadata_columns=metadata_columns or (),
            )
        else:
            parsed = parse_jsonl(text, source=source)
        note = f"imported {len(parsed)} examples from {filename or format.upper()}"
        return datasets.add_examples(name, parsed, note=note, create=True)

    return await run_in_threadpool(parse_and_add)


@router.get("/datasets/{name}/export", response_class=PlainTextResponse)
def export(
    name: NamePath,
    format: Annotated[FileFormat, Query(description="jsonl or csv.")] = "jsonl",
    version: VersionQuery = None,
    datasets: DatasetStore = Depends(get_datasets),
) -> PlainTextResponse:
    """The examples of a version (current by default) as a JSONL or CSV file."""
    rows = datasets.get_examples(name, version=version)
    body = export_csv(rows) if format == "csv" else export_jsonl(rows)
    at = datasets.get_dataset(name).version if version is None else version
    disposition = f'attachment; filename="{name}-v{at}.{format}"'
    return PlainTextResponse(body, media_type=_MEDIA_TYPES[format], headers={"Content-Disposition": disposition})


@router.post("/datasets/{name}/promote", response_model=PromotionResult, status_code=201)
def promote(
    name: NamePath, body: PromotionFilters, response: Response, store: Store = Depends(get_store)
) -> PromotionResult:
    """Promote spans into the dataset (created when missing) as examples, in one new version.

    201 when examples were added, 200 when nothing was new (spans already present, or none matched).
    404 when explicit ``span_ids`` name unknown spans; 422 for bad filters. See ``replay.datasets.promote``
    for the selection and the mapping of a span to an example.
    """
    result = promote_spans(store, name, body)
    if not result.added:
        response.status_code = 200
    return result


async def _read_text(request: Request) -> str:
    size = 0
    chunks: list[bytes] = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_IMPORT_BYTES:
            raise TooLarge(f"the file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MiB; split it")
        chunks.append(chunk)
    try:
        return b"".join(chunks).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"the file is not UTF-8 text (invalid byte at offset {exc.start})") from None
