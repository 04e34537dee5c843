"""Building blocks of request bodies: closed models (unknown fields are a 400, types exact) and
text fields that refuse NUL (PostgreSQL cannot store it in `text`; SQLite would, and the two
backends must answer alike)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr

from yotel.domain.errors import NotFound, ValidationError


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


class Closed(BaseModel):
    # Fields use Strict* types: lax mode would turn "5" into 5 and 1.0 into 1.
    model_config = ConfigDict(extra="forbid")


Text = Annotated[StrictStr, AfterValidator(_no_nul)]
Name = Annotated[StrictStr, Field(min_length=1, max_length=200), AfterValidator(_no_nul)]
ShortText = Annotated[StrictStr, Field(max_length=200), AfterValidator(_no_nul)]


def sent_fields(body: BaseModel) -> dict[str, Any]:
    """The fields a PATCH body actually carried (`model_fields_set`), as JSON values."""
    return dict(body.model_dump(mode="json", include=body.model_fields_set))


def invalid(field: str, message: str, kind: str = "value_error") -> ValidationError:
    """A 400 naming one body field."""
    return ValidationError(f"{field}: {message}",
                           details=[{"loc": ["body", field], "msg": message, "type": kind}])


def unknown_reference(field: str, noun: str) -> NotFound:
    """A well-formed id in a body that names nothing of this tenant: 404, as the object's own
    URL would answer (the same rule as the tenant's defaults), without quoting the id."""
    message = f"no such {noun} in this tenant"
    return NotFound(f"{field}: {message}",
                    details=[{"loc": ["body", field], "msg": message, "type": "not_found"}])
