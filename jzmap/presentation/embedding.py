"""What the embed origins' admin routes take and answer (``/v1/admin/embed-origins``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from providers.embedding import MAX_NOTE_LENGTH, MAX_ORIGIN_LENGTH, EmbedOrigin


class EmbedOriginIn(BaseModel):
    """An origin to allow: ``scheme://host[:port]``, no path, no wildcard."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"origin": "https://bus.example.cn", "note": "公交 app, 张工 020-1234"}]
        },
    )

    origin: str = Field(max_length=MAX_ORIGIN_LENGTH, description="e.g. https://app.example.cn")
    note: str | None = Field(
        default=None, max_length=MAX_NOTE_LENGTH, description="who asked, for operators"
    )


class StoredOriginOut(BaseModel):
    origin: str
    note: str
    added_at: datetime

    @classmethod
    def of(cls, origin: EmbedOrigin) -> StoredOriginOut:
        return cls(origin=origin.origin, note=origin.note, added_at=origin.added_at)


class EmbedOriginsOut(BaseModel):
    """The origins allowed to embed the widget and to call the API from a browser."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "configured": ["https://app.example.cn"],
                    "stored": [
                        {
                            "origin": "https://bus.example.cn",
                            "note": "公交 app",
                            "added_at": "2026-12-03T09:30:00Z",
                        }
                    ],
                    "effective": ["https://app.example.cn", "https://bus.example.cn"],
                }
            ]
        }
    )

    configured: list[str] = Field(description="JZMAP_EMBED_ORIGINS (changed by a restart only)")
    stored: list[StoredOriginOut] = Field(description="stored with the data (this API, the CLI)")
    effective: list[str] = Field(description="both, as every worker applies them")


class EmbedOriginChangeOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"origin": "https://bus.example.cn", "changed": True, "configured": False}]
        }
    )

    origin: str = Field(description="the origin as stored (normalised)")
    changed: bool = Field(description="added (or removed); false: it already was (was not)")
    configured: bool = Field(
        description="also in JZMAP_EMBED_ORIGINS: removing it here leaves it allowed"
    )
