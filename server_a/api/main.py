"""All of server A's routers."""

from __future__ import annotations

from fastapi import APIRouter

from server_a.api.routes import enrolment, events, health, patients, physicians, readings

api_router = APIRouter()
for module in (health, physicians, patients, enrolment, readings, events):
    api_router.include_router(module.router)
