"""How fast and as whom the simulated Canvas behaves."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatorSettings:
    """
    Timing, identity and limits of one simulated Canvas root account.

    The defaults are fast (an import finishes well under a second) so tests run quickly;
    `REALISTIC` is closer to a hosted Canvas. `storage_dir=None` means a private temporary
    folder, deleted on `stop()`.
    """

    pickup_delay_seconds: float = 0.05
    rows_per_second: float = 1_000_000.0
    min_import_seconds: float = 0.1
    errors_attachment_delay_seconds: float = 0.1
    after_abort_delay_seconds: float = 0.0
    per_page_default: int = 10
    max_per_page: int = 100
    user_id: int = 1
    user_name: str = "SIS Watcher Simulator"
    account_id: int = 1
    account_name: str = "Simulated University"
    root_sis_account_id: str = "ROOT"
    sub_account_id: int = 2
    sub_sis_account_id: str = "SUB"
    sis_imports_enabled: bool = True
    storage_dir: Path | None = None
    max_zip_members: int = 100_000
    max_expansion_ratio: int = 100
    max_uncompressed_bytes: int = 50 << 30
    max_tracked_objects: int = 500_000
    fault_seed: int = 0
    rate_limit_high_water: float = 600.0
    rate_limit_outflow_per_second: float = 10.0
    # pre_attachment uploads (docs/canvas.md §A1): false is an older Canvas whose create answer
    # has no `pre_attachment`; `upload_style` "inst_fs" (201, Canvas told by storage) or "s3"
    # (303 to create_success); how long an upload's JWT or S3 policy is accepted.
    pre_attachment_supported: bool = True
    upload_style: str = "inst_fs"
    upload_jwt_seconds: float = 600.0
    upload_policy_seconds: float = 1800.0
    upload_host: str | None = None  # the host upload URLs name (off loopback: a remote storage host)
    restore_data_days: float = 30.0  # docs/canvas.md §A2: roll-back rows older than this are expired
    restore_pickup_delay_seconds: float = 0.05  # a restore job waits this long `queued`, then runs
    restore_seconds: float = 0.1  # and runs this long (`completion` 50.0 half-way)
    restore_save_delay_seconds: float = 0.05  # Progress `completed` this long before the import is saved
    sis_diffing_max_skip: int = 5  # docs/canvas.md §A4: Canvas's `Setting.get("sis_diffing_max_skip")`


REALISTIC = SimulatorSettings(
    pickup_delay_seconds=2.0,
    rows_per_second=500.0,
    min_import_seconds=5.0,
    errors_attachment_delay_seconds=3.0,
    after_abort_delay_seconds=600.0,
)
