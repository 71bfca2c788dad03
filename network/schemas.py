"""marshmallow schemas of the six record bodies.

Loading returns JSON-native values (dates stay ISO strings, amounts decimal strings) so a
loaded body is exactly what is stored, hashed and signed. Unknown fields are rejected.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from marshmallow import RAISE, Schema, ValidationError, validate, validates_schema
from marshmallow import fields as mf

from . import vocab
from .ids import parse_rid
from .text import CleanString, MultilingualText


class Strict(Schema):
    class Meta:
        unknown = RAISE


class RidRef(mf.String):
    """A reference to another record: a well-formed rid of the given kind."""

    def __init__(self, kind: str, **kwargs):
        super().__init__(**kwargs)
        self.kind = kind

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        value = super()._deserialize(value, attr, data, **kwargs)
        try:
            rid = parse_rid(value)
        except ValueError:
            raise ValidationError("Not a well-formed rid (urn:jembatan:<node>:<kind>:<uuid7>).")
        if rid.kind != self.kind:
            raise ValidationError(f"Must reference a {self.kind}, not a {rid.kind}.")
        return value


class Country(mf.String):
    def _deserialize(self, value, attr, data, **kwargs) -> str:
        value = super()._deserialize(value, attr, data, **kwargs)
        if value not in vocab.countries():
            raise ValidationError("Not an ISO 3166-1 alpha-2 country code known to CLDR.")
        return value


class Currency(mf.String):
    def _deserialize(self, value, attr, data, **kwargs) -> str:
        value = super()._deserialize(value, attr, data, **kwargs)
        if value not in vocab.currencies():
            raise ValidationError("Not an ISO 4217 currency code.")
        return value


class IsoDate(mf.String):
    def _deserialize(self, value, attr, data, **kwargs) -> str:
        value = super()._deserialize(value, attr, data, **kwargs)
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                raise ValueError
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise ValidationError("Not a date in the form YYYY-MM-DD.")


class UtcTime(mf.String):
    """A moment in UTC to the second, written ``YYYY-MM-DDTHH:MM:SSZ`` (one spelling only, so
    that equal moments are equal strings and order as text)."""

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        value = super()._deserialize(value, attr, data, **kwargs)
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", value):
                raise ValueError
            datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            raise ValidationError("Not a UTC time in the form YYYY-MM-DDTHH:MM:SSZ.")
        return value


class FieldCode(mf.String):
    def _deserialize(self, value, attr, data, **kwargs) -> str:
        value = super()._deserialize(value, attr, data, **kwargs)
        if value not in vocab.field_codes():
            raise ValidationError("Not a technology field code of the vocabulary.")
        return value


class Url(mf.Url):
    def __init__(self, **kwargs):
        super().__init__(schemes={"http", "https"}, require_tld=True, **kwargs)


def _enum(values, **kwargs):
    return mf.String(validate=validate.OneOf(values), **kwargs)


def _unique(items: list, what: str = "Items") -> None:
    if len(set(items)) != len(items):
        raise ValidationError(f"{what} must not repeat.")


class Money(Strict):
    amount = mf.Raw(required=True)
    currency = Currency(required=True)

    @validates_schema
    def _amount(self, data, **kwargs):
        raw = data.get("amount")
        if isinstance(raw, bool) or not isinstance(raw, (str, int)):
            raise ValidationError("Must be a decimal number as a string, e.g. \"1250000.00\".", "amount")
        try:
            amount = Decimal(str(raw))
        except InvalidOperation:
            raise ValidationError("Not a decimal number.", "amount")
        if not amount.is_finite() or amount < 0 or amount >= Decimal(10) ** 15:
            raise ValidationError("Must be between 0 and 10^15.", "amount")
        digits = vocab.currency_digits(data["currency"])
        if amount != amount.quantize(Decimal(1).scaleb(-digits)):
            raise ValidationError(f"{data['currency']} has {digits} decimal places.", "amount")
        data["amount"] = f"{amount:.{digits}f}"


class Ip(Strict):
    status = _enum(vocab.IP_STATUSES, required=True)
    patents = mf.List(CleanString(max_length=40), validate=validate.Length(max=50))


class StageChange(Strict):
    """One step of a technology's lifecycle: the stage it entered, when, and who moved it."""
    stage = _enum(vocab.STAGES, required=True)
    at = UtcTime(required=True)
    by = CleanString(max_length=100, required=True)


#: the most stage changes a technology keeps (the node drops the oldest beyond it)
MAX_STAGE_HISTORY = 100


class InstitutionBody(Strict):
    name = MultilingualText(required=True)
    kind = _enum(vocab.INSTITUTION_KINDS, required=True)
    country = Country(required=True)
    city = CleanString(max_length=100)
    website = Url()
    identifiers = mf.Dict(keys=mf.String(validate=validate.OneOf(vocab.IDENTIFIER_SCHEMES)),
                              values=CleanString(max_length=100))
    description = MultilingualText(max_length=5000)


class TechnologyBody(Strict):
    title = MultilingualText(required=True)
    summary = MultilingualText(max_length=5000)
    owner = RidRef("institution", required=True)
    fields = mf.List(FieldCode(), required=True, validate=validate.Length(min=1, max=5))
    keywords = mf.List(CleanString(max_length=60), validate=validate.Length(max=20))
    trl = mf.Integer(required=True, strict=True, validate=validate.Range(1, 9))
    ip = mf.Nested(Ip)
    transfer_modes = mf.List(_enum(vocab.TRANSFER_MODES), required=True,
                                 validate=validate.Length(min=1))
    stage = _enum(vocab.STAGES, required=True)
    stage_history = mf.List(mf.Nested(StageChange),
                            validate=validate.Length(max=MAX_STAGE_HISTORY), metadata={
                                "description": "Every stage the technology entered, oldest "
                                "first; kept by its origin node as the stage changes (a write "
                                "may leave it out or send it as stored, never change it)."})

    @validates_schema
    def _no_repeats(self, data, **kwargs):
        for name in ("fields", "transfer_modes", "keywords"):
            if name in data:
                try:
                    _unique(data[name])
                except ValidationError as exc:
                    raise ValidationError(exc.messages, name)

    @validates_schema
    def _history(self, data, **kwargs):
        history = data.get("stage_history")
        if not history:
            return
        for i in range(1, len(history)):
            if history[i]["at"] < history[i - 1]["at"]:
                raise ValidationError({"stage_history": {i: {"at": [
                    "Must not be before the previous entry's time."]}}})
        if history[-1]["stage"] != data["stage"]:
            raise ValidationError({"stage_history": {len(history) - 1: {"stage": [
                "The last entry's stage must be the technology's stage."]}}})


class DemandBody(Strict):
    title = MultilingualText(required=True)
    summary = MultilingualText(max_length=5000)
    requester = RidRef("institution", required=True)
    fields = mf.List(FieldCode(), required=True, validate=validate.Length(min=1, max=5))
    keywords = mf.List(CleanString(max_length=60), validate=validate.Length(max=20))
    trl_min = mf.Integer(strict=True, validate=validate.Range(1, 9))
    budget = mf.Nested(Money)
    deadline = IsoDate()
    countries = mf.List(Country(), validate=validate.Length(max=30))
    transfer_modes = mf.List(_enum(vocab.TRANSFER_MODES), validate=validate.Length(min=1),
                             metadata={"description": "The ways of transfer the enterprise "
                                       "accepts; absent: any."})

    @validates_schema
    def _no_repeats(self, data, **kwargs):
        if "transfer_modes" in data:
            try:
                _unique(data["transfer_modes"])
            except ValidationError as exc:
                raise ValidationError(exc.messages, "transfer_modes")


class Party(Strict):
    institution = RidRef("institution", required=True)
    role = _enum(vocab.PARTY_ROLES, required=True)


class AgreementBody(Strict):
    kind = _enum(vocab.AGREEMENT_KINDS, required=True)
    title = MultilingualText()
    parties = mf.List(mf.Nested(Party), required=True, validate=validate.Length(min=2, max=50))
    technology = RidRef("technology")
    event = RidRef("event")
    fields = mf.List(FieldCode(), validate=validate.Length(max=5))
    signed_on = IsoDate()
    value = mf.Nested(Money)
    registration_no = CleanString(max_length=64)
    status = _enum(vocab.AGREEMENT_STATUSES, required=True)

    @validates_schema
    def _parties(self, data, **kwargs):
        parties = data.get("parties") or []
        try:
            _unique([p["institution"] for p in parties], "Party institutions")
        except ValidationError as exc:
            raise ValidationError(exc.messages, "parties")


class EndorsementBody(Strict):
    agreement = RidRef("agreement", required=True)
    version = mf.Integer(required=True, strict=True, validate=validate.Range(min=1))
    content_hash = mf.String(required=True, validate=validate.Regexp(r"^sha256:[0-9a-f]{64}$"))
    party = RidRef("institution", required=True)


class EventBody(Strict):
    name = MultilingualText(required=True)
    kind = _enum(vocab.EVENT_KINDS, required=True)
    summary = MultilingualText(max_length=5000)
    starts_on = IsoDate(required=True)
    ends_on = IsoDate(required=True)
    country = Country(required=True)
    city = CleanString(max_length=100)
    organisers = mf.List(RidRef("institution"), validate=validate.Length(max=50))
    participants = mf.List(RidRef("institution"), validate=validate.Length(max=5000))
    technologies = mf.List(RidRef("technology"), validate=validate.Length(max=5000))

    @validates_schema
    def _dates(self, data, **kwargs):
        if "starts_on" in data and "ends_on" in data and data["ends_on"] < data["starts_on"]:
            raise ValidationError("Must not be before starts_on.", "ends_on")
        for name in ("organisers", "participants", "technologies"):
            if name in data:
                try:
                    _unique(data[name])
                except ValidationError as exc:
                    raise ValidationError(exc.messages, name)


BODY_SCHEMAS: dict[str, type[Schema]] = {
    "institution": InstitutionBody,
    "technology": TechnologyBody,
    "demand": DemandBody,
    "agreement": AgreementBody,
    "endorsement": EndorsementBody,
    "event": EventBody,
}
