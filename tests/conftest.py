"""Shared fixtures: an explicit registry with a few modules, and source helpers."""

from __future__ import annotations

import asyncio
import textwrap
from dataclasses import dataclass
from typing import TypedDict

import pytest

from constellation.modules import Registry


class Profile(TypedDict):
    score: int


@dataclass
class Carrier:
    code: str


def make_registry() -> Registry:
    """A registry with the modules the sample programs call."""
    reg = Registry()

    @reg.module
    def Uppercase(text: str) -> str:
        return text.upper()

    @reg.module
    def FetchProfile(customer_id: str) -> Profile:
        return {"score": len(customer_id)}

    @reg.module
    def Resize(width: int, height: int) -> str:
        return f"{width}x{height}"

    @reg.module
    def Score(x: float) -> float:
        return x * 2

    @reg.module(name="fetch", namespace="crm")
    def crm_fetch(key: str) -> str:
        return "crm:" + key

    @reg.module(name="fetch", namespace="erp")
    def erp_fetch(key: str) -> str:
        return "erp:" + key

    @reg.module(name="total", namespace="billing.v2")
    def billing_total(amount: float) -> float:
        return amount

    return reg


@pytest.fixture
def registry() -> Registry:
    return make_registry()


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


class AutoClock:
    """Every sleep is recorded and passes at once: time jumps by its length."""

    def __init__(self) -> None:
        self.time = 0.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.time += seconds
        await asyncio.sleep(0)
