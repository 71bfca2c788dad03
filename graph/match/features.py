"""What of a technology or a demand the matcher reads.

Both sides are cut the same way: the text (every language variant of title, summary and
keywords; the title counted twice, it says what the record is about), the field codes, the
TRL (a technology's level, a demand's minimum), the transfer modes, the party (owner or
requester) and, for a demand, its countries of interest.
"""
from __future__ import annotations

from dataclasses import dataclass

from jembatan.network import vocab

#: The two sides, and the party each names.
PARTY = {"technology": "owner", "demand": "requester"}
OTHER = {"technology": "demand", "demand": "technology"}

FIELD_BITS = {code: 1 << i for i, code in enumerate(vocab.fields())}
MODE_BITS = {mode: 1 << i for i, mode in enumerate(vocab.TRANSFER_MODES)}


@dataclass(frozen=True)
class Features:
    rid: str
    kind: str                       # technology | demand
    visibility: str
    party: str                      # institution rid
    text: str
    fields: tuple[str, ...]
    trl: int                        # technology trl, demand trl_min; 0 when a demand has none
    modes: tuple[str, ...]          # () when a demand names none
    countries: tuple[str, ...]      # a demand's countries of interest
    stage: str = ""

    @property
    def field_mask(self) -> int:
        return sum(FIELD_BITS.get(code, 0) for code in set(self.fields))

    @property
    def mode_mask(self) -> int:
        return sum(MODE_BITS[m] for m in set(self.modes) if m in MODE_BITS)


def record_text(body: dict) -> str:
    parts: list[str] = []
    title = list((body.get("title") or {}).values())
    parts.extend(title)
    parts.extend(title)
    parts.extend((body.get("summary") or {}).values())
    parts.extend(body.get("keywords") or ())
    return "\n".join(parts)


def features(envelope: dict) -> Features | None:
    """The features of a live technology or demand; None for anything else (a tombstone,
    another kind, a withdrawn technology)."""
    kind = envelope.get("kind")
    body = envelope.get("body")
    if kind not in PARTY or envelope.get("deleted") or not body:
        return None
    if kind == "technology" and body.get("stage") == "withdrawn":
        return None
    return Features(
        rid=envelope["rid"], kind=kind, visibility=envelope.get("visibility", "public"),
        party=body.get(PARTY[kind], ""), text=record_text(body),
        fields=tuple(body.get("fields") or ()),
        trl=int(body.get("trl") or body.get("trl_min") or 0),
        modes=tuple(body.get("transfer_modes") or ()),
        countries=tuple(body.get("countries") or ()),
        stage=body.get("stage", ""))
