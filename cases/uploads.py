"""Survey uploads on disk: content sniffing, size limits, safe zip extraction, content-addressed storage.

A file's type is taken from its first bytes, never from its name. Accepted: JPEG, PNG, TIFF (GeoTIFF is a
TIFF), MP4/MOV (ISO media), ZIP (extracted here, each member sniffed again), and flight logs as UTF-8 text
(`.srt` / `.csv`, the only kinds named by extension because text has no magic number).

Zip archives are checked before anything is written, and again while extracting: a member name that is
absolute, has `..` or a drive, or resolves outside the target is zip slip → the whole archive is refused;
sizes are counted from the decompressed bytes (the header's sizes can lie), so a member or archive larger than
the limits, or a member that expands more than `zip_max_ratio` times, is a zip bomb → refused, and what was
extracted so far is removed. Nested archives are refused (not extracted).

Stored files are named by their SHA-256 under `<data_dir>/surveys/<id>/files/`, written to a temporary name
and renamed, so an upload that dies half-way leaves nothing a worker would read.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from cases.errors import UnsupportedUpload, UploadRejected, UploadTooLarge
from inference.settings import SurveySettings
from models.datadir import DataDir

CHUNK = 1 << 20
KIND_SUFFIX = {"jpeg": ".jpg", "png": ".png", "tiff": ".tif", "mp4": ".mp4", "srt": ".srt", "csv": ".csv"}
MEDIA_KINDS = frozenset({"jpeg", "png", "tiff", "mp4"})
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class StoredFile:
    name: str  # the (sanitised) name the client gave, or the zip member's path
    sha256: str
    size: int
    kind: str
    path: Path  # absolute


def sniff(head: bytes, name: str = "") -> str | None:
    """The kind of a file from its first bytes (at least 16): jpeg, png, tiff, mp4, zip, srt, csv; None if unknown."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in {".srt", ".csv"} and head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 3:  # a multi-byte character cut at the end of the sample is fine
                return None
        if b"\x00" not in head:
            return suffix[1:]
    return None


def safe_name(name: str) -> str:
    """A file name fit for display and reports: the last path part, odd characters replaced, ≤ 120 chars."""
    base = PurePosixPath(name.replace("\\", "/")).name or "file"
    clean = _SAFE_NAME.sub("_", base).strip("._") or "file"
    return clean[-120:]


def survey_dir(data_dir: Path, survey_id: int) -> Path:
    return DataDir(data_dir).survey(survey_id)


class UploadWriter:
    """Receives one file's bytes in chunks: hashes, counts (refusing above `limit`), writes a temp file.

    `finish()` sniffs, moves it into place (or extracts it, for a zip) and returns the stored files.
    """

    def __init__(self, data_dir: Path, survey_id: int, name: str, cfg: SurveySettings):
        self.cfg = cfg
        self.name = name
        self.files_dir = survey_dir(data_dir, survey_id) / "files"
        self.files_dir.mkdir(parents=True, exist_ok=True)
        self.limit = cfg.max_file_mb * CHUNK
        fd, tmp = tempfile.mkstemp(dir=self.files_dir, prefix=".upload-", suffix=".part")
        self._fh: BinaryIO = os.fdopen(fd, "wb")
        self.tmp = Path(tmp)
        self._hash = hashlib.sha256()
        self.size = 0
        self.head = b""

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            self.abort()
            raise UploadTooLarge(f"{safe_name(self.name)}: larger than {self.cfg.max_file_mb} MiB")
        if len(self.head) < 64:
            self.head += data[: 64 - len(self.head)]
        self._hash.update(data)
        self._fh.write(data)

    def abort(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        self.tmp.unlink(missing_ok=True)

    def finish(self) -> list[StoredFile]:
        self._fh.close()
        try:
            kind = sniff(self.head, self.name)
            if kind is None:
                raise UnsupportedUpload(
                    f"{safe_name(self.name)}: unsupported content (not JPEG, PNG, TIFF/GeoTIFF, MP4, ZIP, "
                    "or a .srt/.csv flight log)",
                )
            if self.size == 0:
                raise UploadRejected(f"{safe_name(self.name)}: empty file")
            if kind == "zip":
                return extract_zip(self.tmp, self.files_dir, self.cfg)
            return [place(self.tmp, self.files_dir, safe_name(self.name), self._hash.hexdigest(), self.size, kind)[0]]
        finally:
            self.tmp.unlink(missing_ok=True)


def place(tmp: Path, files_dir: Path, name: str, sha256: str, size: int, kind: str) -> tuple[StoredFile, bool]:
    """Rename a complete temp file to its content-addressed name; (file, False) when that content was there."""
    target = files_dir / f"{sha256[:24]}{KIND_SUFFIX[kind]}"
    created = not target.exists()
    if created:
        os.replace(tmp, target)
    else:
        tmp.unlink(missing_ok=True)
    return StoredFile(name=name, sha256=sha256, size=size, kind=kind, path=target.resolve()), created


def store_path(data_dir: Path, survey_id: int, source: Path, cfg: SurveySettings) -> list[StoredFile]:
    """Store a local file (the CLI's upload): the same checks as an HTTP upload."""
    w = UploadWriter(data_dir, survey_id, source.name, cfg)
    try:
        with open(source, "rb") as fh:
            while chunk := fh.read(CHUNK):
                w.write(chunk)
    except BaseException:
        w.abort()
        raise
    return w.finish()


def _member_path(name: str, root: Path) -> PurePosixPath:
    norm = name.replace("\\", "/")
    p = PurePosixPath(norm)
    if norm.startswith("/") or p.is_absolute() or ".." in p.parts or (p.parts and ":" in p.parts[0]) or "\x00" in norm:
        raise UploadRejected(f"zip member {name[:200]!r}: path leaves the archive (zip slip); archive refused")
    resolved = (root / p).resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise UploadRejected(f"zip member {name[:200]!r}: path leaves the archive (zip slip); archive refused")
    return p


def _members(zf: zipfile.ZipFile, cfg: SurveySettings, root: Path) -> Iterator[zipfile.ZipInfo]:
    infos = zf.infolist()
    if len(infos) > cfg.zip_max_members:
        raise UploadTooLarge(f"zip has {len(infos)} members, more than {cfg.zip_max_members}; archive refused")
    declared = 0
    for info in infos:  # every name and declared size is checked before one byte is extracted
        _member_path(info.filename, root)
        declared += info.file_size
        if info.flag_bits & 0x1:
            raise UploadRejected(f"zip member {info.filename[:200]!r} is encrypted; archive refused")
    if declared > cfg.zip_max_total_mb * CHUNK:
        raise UploadTooLarge(
            f"zip expands to {declared / CHUNK:.0f} MiB, more than {cfg.zip_max_total_mb} MiB (zip bomb?); "
            "archive refused",
        )
    yield from (i for i in infos if not i.is_dir())


def extract_zip(archive: Path, files_dir: Path, cfg: SurveySettings) -> list[StoredFile]:
    """Extract a zip's media into `files_dir` (content-addressed); refuse the whole archive on slip or bomb."""
    out: list[StoredFile] = []
    written: list[Path] = []
    total = 0
    member_limit = min(cfg.max_file_mb, cfg.zip_max_total_mb) * CHUNK
    try:
        try:
            zf = zipfile.ZipFile(archive)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise UploadRejected(f"not a readable zip archive ({exc})") from None
        with zf:
            for info in _members(zf, cfg, files_dir):
                fd, tmp_name = tempfile.mkstemp(dir=files_dir, prefix=".unzip-", suffix=".part")
                tmp = Path(tmp_name)
                written.append(tmp)
                h = hashlib.sha256()
                size = 0
                head = b""
                try:
                    with os.fdopen(fd, "wb") as dst, zf.open(info) as src:
                        while chunk := src.read(CHUNK):
                            size += len(chunk)
                            total += len(chunk)
                            if size > member_limit or total > cfg.zip_max_total_mb * CHUNK:
                                raise UploadTooLarge(
                                    f"zip member {info.filename[:200]!r} expands beyond the size limits (zip bomb); "
                                    "archive refused",
                                )
                            if size > 1 << 20 and size > cfg.zip_max_ratio * max(info.compress_size, 1):
                                raise UploadTooLarge(
                                    f"zip member {info.filename[:200]!r} expands more than {cfg.zip_max_ratio}× "
                                    "(zip bomb); archive refused",
                                )
                            if len(head) < 64:
                                head += chunk[: 64 - len(head)]
                            h.update(chunk)
                            dst.write(chunk)
                except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
                    if isinstance(exc, UploadRejected):
                        raise
                    raise UploadRejected(f"zip member {info.filename[:200]!r}: cannot extract ({exc})") from None
                kind = sniff(head, info.filename)
                if kind is None or kind == "zip" or size == 0:
                    tmp.unlink(missing_ok=True)
                    continue  # not media (readme, thumbs.db, a nested archive): skipped, not extracted
                stored, created = place(tmp, files_dir, safe_name(info.filename), h.hexdigest(), size, kind)
                if created:
                    written.append(stored.path)
                out.append(stored)
    except BaseException:
        for p in written:
            p.unlink(missing_ok=True)
        raise
    finally:
        for p in written:
            if p.name.startswith(".unzip-"):
                p.unlink(missing_ok=True)
    if not out:
        raise UploadRejected("the zip holds no JPEG, PNG, TIFF, MP4 or flight-log files")
    return out


def remove_survey_files(data_dir: Path, survey_id: int) -> None:
    shutil.rmtree(survey_dir(data_dir, survey_id), ignore_errors=True)
