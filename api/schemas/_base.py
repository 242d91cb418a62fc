"""What every resource's schemas are built from: the bases (requests refuse unknown fields,
responses also load), the request fields that are stricter than marshmallow's, the
confirmation every change carries, and the conversions of states and times."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import marshmallow as ma
from marshmallow import fields as f
from marshmallow import validate as v

from omapifo import Role


class _Base(ma.Schema):
    class Meta:
        ordered = True


class Strict(_Base):
    """Request bodies: unknown fields are an error, not silently dropped."""

    class Meta:
        unknown = ma.RAISE


class _Model(_Base):
    """A response schema that also loads: ``dump(obj)`` is the service's JSON and
    ``load(json)`` gives the library's object back (the REST client and the command line
    use that), so no second, hand-written decoder can drift from the schema. Fields the
    library derives (a lease's agreement, a pool's utilisation) are dump-only, and loading
    ignores what it does not know (a newer service may send more)."""

    class Meta:
        ordered = True
        unknown = ma.EXCLUDE


class QueryBool(f.Boolean):
    """A query-string boolean: exactly true, false, 1 or 0 (marshmallow's Boolean also
    takes yes, on, t, y and their capitals)."""

    truthy = {"true", "1"}
    falsy = {"false", "0"}
    default_error_messages = {"invalid": "must be true, false, 1 or 0"}


class JsonBool(f.Boolean):
    """A JSON-body boolean: only JSON's true and false. marshmallow's Boolean took
    ``{"force": "yes"}`` (or 1, or "true") as force=true."""

    default_error_messages = {"invalid": "must be the JSON boolean true or false"}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if value is True or value is False:
            return value
        raise self.make_error("invalid")


class Text(f.String):
    """A string that is valid Unicode text: JSON may carry lone surrogates ("\\ud800"),
    which no UTF-8 column, log line or response can hold."""

    default_error_messages = {"not_utf8": "is not valid UTF-8 text (a lone surrogate)"}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise self.make_error("not_utf8") from None
        return text


class _Confirmed(Strict):
    """The body of a change: the pair's name, to confirm (the first field of every change's
    body; each change names its own body, which adds what else it takes)."""

    # not required here: a missing confirmation is a 400 from the view, as documented
    confirm = Text(load_default=None, validate=v.Length(max=128),
                   metadata={"description": "the pair's name, to confirm"})


def _aware(value: str) -> datetime:
    """An RFC 3339 time as an aware datetime (UTC when the text has no offset)."""
    when = datetime.fromisoformat(value)
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _in_utc_range(value: datetime) -> None:
    try:
        value.astimezone(timezone.utc)
    except OverflowError:  # 9999-12-31T23:59:59-14:00 is past year 9999 in UTC
        raise ma.ValidationError("is outside the range of times (year 1 to 9999 in UTC)") \
            from None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _state(value: Any) -> dict[str, Any] | None:
    return None if value is None else {"name": str(value), "number": int(value)}


class PeerErrors(f.Dict):
    """What failed on each peer that could not be read or scanned (every view and report
    of both peers): keyed by the role's name in JSON, by Role when loaded."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(keys=f.String(), values=f.String(), **kw)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kw: Any) -> Any:
        return None if value is None else {str(k): str(e) for k, e in value.items()}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kw: Any) -> Any:
        return {Role.parse(k): e for k, e in super()._deserialize(value, attr, data, **kw).items()}


class _ScanReportSchema(_Model):
    """What every scan report says besides its rows (omapifo's ScanReport)."""

    pair = f.String(required=True)
    scanned_at = f.AwareDateTime(format="iso", required=True)
    source = f.String(required=True)
    duration = f.Float(required=True)
    complete = f.Boolean(dump_only=True)
    errors = PeerErrors()
