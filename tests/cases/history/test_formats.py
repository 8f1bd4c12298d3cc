"""The history readers on small project-made files in each format, bad rows included."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cases.history.formats import BadRow, HistoryRow, read_history
from cases.history.mapping import load_mapping
from models.errors import Invalid

FIX = Path(__file__).parent / "fixtures"


def split(rows: list[HistoryRow | BadRow]) -> tuple[dict[str, HistoryRow], Counter[str]]:
    good = {r.source_id: r for r in rows if isinstance(r, HistoryRow)}
    return good, Counter(r.reason for r in rows if isinstance(r, BadRow))


def test_boston_gzip_rows_mapped_and_bad_rows_counted() -> None:
    good, bad = split(list(read_history([FIX / "boston311.csv.gz"], "boston311", load_mapping("boston311"))))
    assert bad == {"bad date": 1, "duplicate id": 1}
    assert set(good) == {"101000000001", "101000000002", "101000000003", "101000000004", "101000000006"}
    first = good["101000000001"]
    assert first.category == "garbage" and first.outcome == "confirmed" and first.source_type == "phone"
    assert first.opened_at == datetime(2011, 7, 1, 12, 0, tzinfo=UTC)  # 08:00 EDT
    assert first.district == "Dorchester" and (first.lat, first.lon) == (42.3, -71.06)
    assert good["101000000002"].outcome == "dismissed" and good["101000000002"].category == "illegal_construction"
    city_hall = good["101000000003"]
    assert city_hall.lat is None and city_hall.lon is None  # the default point is no position
    assert city_hall.outcome == "excluded" and city_hall.source_type == "employee"  # ADCLSD: stated policy
    still_open = good["101000000004"]
    assert still_open.outcome is None and still_open.closed_at is None and still_open.category == "other"
    assert good["101000000006"].outcome == "dismissed"  # duplicate of an existing case: unfounded


def test_chicago_duplicates_skipped_and_dates_local_midnight() -> None:
    good, bad = split(list(read_history([FIX / "chicago311.csv"], "chicago311", load_mapping("chicago311"))))
    assert bad == {"duplicate": 2, "bad date": 1}
    assert set(good) == {"11-00000001", "11-00000004"}
    row = good["11-00000001"]
    assert row.opened_at == datetime(2011, 1, 3, 6, 0, tzinfo=UTC) and row.outcome is None
    assert row.category == "garbage" and row.district == "32" and row.closed_at is not None
    assert good["11-00000004"].lat is None and good["11-00000004"].category == "other"


def test_open311_json() -> None:
    good, bad = split(list(read_history([FIX / "open311.json"], "open311", load_mapping("boston311"))))
    assert bad == {"bad date": 1, "duplicate id": 1, "not a record": 1}
    assert good["sr-1"].outcome == "confirmed" and good["sr-1"].opened_at == datetime(2011, 7, 1, 12, tzinfo=UTC)
    assert good["sr-2"].outcome is None and good["sr-2"].category == "billboard_hazard"


def test_generic_csv_with_unknown_type_as_bad() -> None:
    good, bad = split(list(read_history([FIX / "mycity.csv"], "csv", load_mapping("csv-example"))))
    assert bad == {"unknown type": 1, "bad date": 1, "duplicate": 1, "duplicate id": 1}
    assert good["A1"].category == "street_stall" and good["A1"].outcome == "confirmed"
    assert good["A1"].opened_at == datetime(2024, 5, 1, 0, 30, tzinfo=UTC)  # Asia/Shanghai
    assert good["A2"].outcome == "dismissed" and good["A2"].source_type == "camera"
    assert good["A6"].lat is None and good["A6"].source_type == "drone" and good["A6"].district is None


def test_ids_repeated_across_files_are_duplicates(tmp_path: Path) -> None:
    rows = list(read_history([FIX / "mycity.csv", FIX / "mycity.csv"], "csv", load_mapping("csv-example")))
    _, bad = split(rows)
    assert bad["duplicate id"] == 1 + 4  # once within the file, then every good row of the second copy


def test_wrong_file_or_mapping_refused(tmp_path: Path) -> None:
    with pytest.raises(Invalid, match="missing columns"):
        list(read_history([FIX / "chicago311.csv"], "boston311", load_mapping("boston311")))
    with pytest.raises(Invalid, match="needs `columns`"):
        list(read_history([FIX / "mycity.csv"], "csv", load_mapping("boston311")))
    with pytest.raises(Invalid, match="not GeoReport"):
        list(read_history([FIX / "mycity.csv"], "open311", load_mapping("boston311")))
    bad = tmp_path / "m.yaml"
    bad.write_text("name: x\ntypes: {}\ncolums: {}\n")
    with pytest.raises(Invalid, match="colums"):
        load_mapping(bad)
    with pytest.raises(Invalid, match="shipped mappings: boston311, chicago311, csv-example"):
        load_mapping("nope")
