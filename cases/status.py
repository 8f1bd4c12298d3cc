"""Case statuses: the digital city-management flow 发现 → 立案 → 派遣 → 处置 → 核查 → 结案, plus 作废."""

from __future__ import annotations

from enum import StrEnum


class CaseStatus(StrEnum):
    DETECTED = "detected"  # 发现
    REGISTERED = "registered"  # 立案
    DISPATCHED = "dispatched"  # 派遣
    HANDLED = "handled"  # 处置
    VERIFIED = "verified"  # 核查
    CLOSED = "closed"  # 结案
    DISMISSED = "dismissed"  # 作废 (false alarm or duplicate)


TERMINAL_STATUSES: frozenset[CaseStatus] = frozenset({CaseStatus.CLOSED, CaseStatus.DISMISSED})
OPEN_STATUSES: frozenset[CaseStatus] = frozenset(CaseStatus) - TERMINAL_STATUSES
