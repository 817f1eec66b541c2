"""Which handler runs each kind of job; one place for the server and `tidings worker`."""

from __future__ import annotations

from tidings.collections.job import CollectionFetchJob
from tidings.config import Settings
from tidings.exports.job import ExportJob
from tidings.fetch import Allowlist
from tidings.imports.job import ImportJob
from tidings.jobs.worker import Handler


def handlers(settings: Settings) -> dict[str, Handler]:
    """Every job kind this build knows, configured from `settings`."""
    return {
        "export": ExportJob(),
        "import": ImportJob(Allowlist.parse(settings.fetch_allowlist)),
        "collection_fetch": CollectionFetchJob(Allowlist.parse(settings.fetch_allowlist)),
    }
