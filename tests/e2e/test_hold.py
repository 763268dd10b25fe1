"""
The hold: a batch that would change too much waits in the queue for a person's `approve` or `discard`.

Every scenario runs the real `sis-watcher` command as a subprocess against the simulator, with
real folders: a first night fills the ledger, a second night breaks a hold rule.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path
from typing import Any

from support import Tree, drop_file, run_command, wait_until

TERMS_CSV = b"term_id,name,status\nT1,Fall,active\n"
BATCH_MODE = {"batch_mode": True, "batch_mode_term_id": "sis_term_id:T1"}
RUN_INTAKE = {"settle_seconds": 0.1, "quiet_seconds": 0.3}
ONCE_INTAKE = {"settle_seconds": 0}
HELD_CODE = 1  # `once` leaving a held batch in the queue
NOT_HELD_CODE = 2


def users_csv(count: int, *, login: str = "l") -> bytes:
    rows = "".join(f"u{n},{login}{n},active\n" for n in range(count))
    return ("user_id,login_id,status\n" + rows).encode()


def courses_csv(ids: list[str]) -> bytes:
    rows = "".join(f"{course},S-{course},Course {course},T1,active\n" for course in ids)
    return ("course_id,short_name,long_name,term_id,status\n" + rows).encode()


def enrollments_csv(count: int) -> bytes:
    rows = "".join(f"C{n % 3},u{n},student,active\n" for n in range(count))
    return ("course_id,user_id,role,status\n" + rows).encode()


def counts(**values: int) -> dict[str, int]:
    """Return a `changes.<csv_type>` object: every count zero unless given."""
    base = dict.fromkeys(("added", "updated", "unchanged", "deleted", "dropped", "ledger_rows"), 0)
    return base | values


def drop_night(tree: Tree, *, enrollments: int, users: int | None = None) -> None:
    """Drop one night of the term T1: its three courses, the first `enrollments` enrollments (and users)."""
    drop_file(tree.drop, "courses.csv", courses_csv(["C0", "C1", "C2"]))
    if users is not None:
        drop_file(tree.drop, "users.csv", users_csv(users))
    drop_file(tree.drop, "enrollments.csv", enrollments_csv(enrollments))


def once(config: Path, tree: Tree, *, expect: int = 0) -> str:
    result = run_command("once", "-c", str(config), cwd=tree.root)
    assert expect == result.returncode, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def first_night(tree: Tree, url: str, *, intake: dict[str, Any]) -> Path:
    """
    Import night 1 without batch mode (the term, 3 courses, 100 users and enrollments).

    Batch mode needs its term in Canvas first; return the batch-mode config for the nights after.
    """
    plain = tree.write_config(url, intake=ONCE_INTAKE)
    drop_file(tree.drop, "terms.csv", TERMS_CSV)
    drop_night(tree, users=100, enrollments=100)
    once(plain, tree)
    assert 1 == len(tree.batches("done"))
    return tree.write_config(url, intake=intake, **{"import": BATCH_MODE})


def manifest_or_none(batch: Path) -> dict[str, Any] | None:
    """Return a batch's manifest, or None while it moves or is being written."""
    try:
        document: dict[str, Any] = json.loads((batch / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document


def held_batches(tree: Tree) -> list[Path]:
    return [
        batch for batch in tree.batches("queue") if (manifest_or_none(batch) or {}).get("state") == "held"
    ]


def wait_for_held(tree: Tree) -> Path:
    found: list[Path] = wait_until(lambda: held_batches(tree), what="a held batch in queue/")
    [held] = found
    return held


def ledger_file(tree: Tree) -> Path:
    """Return the ledger's default place: `ledger.sqlite` beside the queue folder."""
    return tree.queue.parent / "ledger.sqlite"


def ledger_query(path: Path, sql: str, *parameters: object) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute(sql, parameters).fetchall()


def ledger_count(path: Path, csv_type: str) -> int:
    [(number,)] = ledger_query(path, "SELECT count(*) FROM rows WHERE csv_type = ?", csv_type)
    return int(number)


def pending_count(path: Path) -> int:
    [(number,)] = ledger_query(path, "SELECT count(*) FROM pending")
    return int(number)


def ledger_applied(running: Any, batch_id: str) -> bool:
    return any(event.get("batch_id") == batch_id for event in running.events("ledger.applied"))


def assert_held_for_deletes(held: Path, tree: Tree) -> None:
    """The second night (70 of 100 enrollments) is held by hold.max_delete_percent, changes recorded."""
    manifest = tree.manifest(held)
    assert "held" == manifest["state"]
    [reason] = manifest["hold"]["reasons"]
    assert ("enrollment", "hold.max_delete_percent", 30.0, 10.0) == (
        reason["csv_type"],
        reason["rule"],
        reason["value"],
        reason["limit"],
    )
    assert "enrollment: 30.0% deleted or dropped of 100" in reason["text"]
    assert counts(unchanged=70, dropped=30, ledger_rows=100) == manifest["changes"]["enrollment"]
    assert counts(unchanged=3, ledger_rows=3) == manifest["changes"]["course"]
    assert "course unchanged; enrollment -30" == manifest["changes"]["summary"]
    assert "changes.csv" == manifest["changes"]["csv"]
    lines = (held / "changes.csv").read_text(encoding="utf-8").splitlines()
    assert "csv_type,change,key,columns" == lines[0]
    assert 30 == sum(line.startswith("enrollment,dropped,") for line in lines[1:])
    assert 31 == len(lines)


class TestDeletes:
    def test_a_night_dropping_30_percent_of_enrollments_is_held_until_approved(self, tree, canvas, service):
        """Batch mode dropping 30% of a term's enrollments waits unsent; approve sends it and the ledger follows."""
        config = first_night(tree, canvas.url, intake=RUN_INTAKE)
        running = service(config)
        running.wait_for_event("daemon.started")

        drop_night(tree, enrollments=70)
        held = wait_for_held(tree)

        assert_held_for_deletes(held, tree)
        assert 1 == len(canvas.uploads)
        [event] = running.wait_for_event("batch.held")
        assert held.name == event["batch_id"]
        assert 100 == ledger_count(ledger_file(tree), "enrollment")
        again = run_command("preview", "-c", str(config), str(held), cwd=tree.root)  # as the README says
        assert 0 == again.returncode, again.stderr
        assert "summary: course unchanged; enrollment -30\n" in again.stdout

        result = run_command("approve", "-c", str(config), held.name, cwd=tree.root)

        assert 0 == result.returncode, result.stderr
        assert f"{held.name} approved: the running daemon carried it out\n" == result.stdout
        wait_until(lambda: ledger_applied(running, held.name), what="the approved batch in the ledger")
        _night1, night2 = tree.batches("done")
        assert held.name == night2.name
        done = tree.manifest(night2)
        assert ("done", "approved") == (done["state"], done["hold"]["decision"])
        assert 30 == done["canvas"]["counts"]["batch_enrollments_deleted"]
        assert 2 == len(canvas.uploads)
        assert {"courses.csv", "enrollments.csv"} == {member.name for member in canvas.uploads[1].members}
        files = [str(night2 / "courses.csv"), str(night2 / "enrollments.csv")]
        preview = run_command("preview", "-c", str(config), "--json", *files, cwd=tree.root)
        assert 0 == preview.returncode, preview.stderr
        document = json.loads(preview.stdout)
        assert counts(unchanged=70, ledger_rows=70) == document["enrollment"]
        assert held.name == document["baseline"]
        assert 70 == ledger_count(ledger_file(tree), "enrollment")
        assert 0 == pending_count(ledger_file(tree))
        assert 0 == running.stop()

    def test_discard_files_the_held_batch_in_failed_and_the_next_batch_goes_on(self, tree, canvas, service):
        """Discard files a held batch in failed/ unsent, the batch behind it then goes; a batch not held exits 2."""
        config = first_night(tree, canvas.url, intake=RUN_INTAKE)
        running = service(config)
        running.wait_for_event("daemon.started")
        drop_night(tree, enrollments=70)
        held = wait_for_held(tree)
        drop_file(tree.drop, "users.csv", users_csv(100, login="renamed-"))
        wait_until(lambda: len(tree.batches("queue")) == 2, what="night 3 queued behind the held batch")
        [behind] = [batch for batch in tree.batches("queue") if batch != held]

        not_held = run_command("approve", "-c", str(config), behind.name, cwd=tree.root)
        assert NOT_HELD_CODE == not_held.returncode
        assert f"{behind.name} is not held (it is queued)" in not_held.stderr
        assert "queued" == tree.manifest(behind)["state"]
        assert 1 == len(canvas.uploads)

        result = run_command("discard", "-c", str(config), held.name, cwd=tree.root)

        assert 0 == result.returncode, result.stderr
        assert f"{held.name} discarded: the running daemon carried it out\n" == result.stdout
        wait_until(lambda: ledger_applied(running, behind.name), what="the batch behind it in the ledger")
        [failed] = tree.batches("failed")
        assert held.name == failed.name
        manifest = tree.manifest(failed)
        assert manifest["outcome"]["reason"].startswith("discarded by operator")
        assert ("failed", "discarded") == (manifest["state"], manifest["hold"]["decision"])
        assert manifest["canvas"]["import_id"] is None
        assert [behind.name] == [batch.name for batch in tree.batches("done")[1:]]
        assert (
            counts(updated=100, ledger_rows=100) == tree.manifest(tree.batches("done")[1])["changes"]["user"]
        )
        assert 2 == len(canvas.uploads)
        assert ["users.csv"] == [member.name for member in canvas.uploads[1].members]
        assert 100 == ledger_count(ledger_file(tree), "enrollment")
        assert 0 == pending_count(ledger_file(tree))
        for verb, batch_id in (("discard", held.name), ("approve", behind.name)):
            refused = run_command(verb, "-c", str(config), batch_id, cwd=tree.root)
            assert NOT_HELD_CODE == refused.returncode, (verb, batch_id)
            assert f"{batch_id} is not a batch in {tree.queue}" in refused.stderr
        assert 2 == len(canvas.uploads)
        assert 0 == running.stop()

    def test_approve_and_discard_work_without_a_daemon_running(self, tree, canvas):
        """Without a daemon, approve readies a held batch for the next `once` and discard files it at once."""
        config = first_night(tree, canvas.url, intake=ONCE_INTAKE)
        drop_night(tree, enrollments=70)

        output = once(config, tree, expect=HELD_CODE)

        held = wait_for_held(tree)
        assert_held_for_deletes(held, tree)
        assert f"batch {held.name} is held" in output
        assert 1 == len(canvas.uploads)
        approved = run_command("approve", "-c", str(config), held.name, cwd=tree.root)
        assert 0 == approved.returncode, approved.stderr
        assert f"{held.name} approved: it goes to Canvas when the daemon next runs\n" == approved.stdout
        manifest = tree.manifest(held)
        assert ("zipped", "approved") == (manifest["state"], manifest["hold"]["decision"])
        assert 1 == len(canvas.uploads)
        once(config, tree)
        assert [held.name] == [batch.name for batch in tree.batches("done")[1:]]
        assert 2 == len(canvas.uploads)
        assert 70 == ledger_count(ledger_file(tree), "enrollment")

        drop_night(tree, enrollments=49)  # 21 of 70: 30% again
        once(config, tree, expect=HELD_CODE)
        second = wait_for_held(tree)
        assert 0 < pending_count(ledger_file(tree))
        discarded = run_command("discard", "-c", str(config), second.name, cwd=tree.root)

        assert 0 == discarded.returncode, discarded.stderr
        assert f"{second.name} discarded: filed in {tree.failed / second.name}\n" == discarded.stdout
        assert [] == tree.batches("queue")
        [failed] = tree.batches("failed")
        assert tree.manifest(failed)["outcome"]["reason"].startswith("discarded by operator")
        assert 0 == pending_count(ledger_file(tree))
        assert 70 == ledger_count(ledger_file(tree), "enrollment")
        assert 2 == len(canvas.uploads)

    def test_a_held_batch_survives_sigkill_and_a_restart(self, tree, canvas, service):
        """SIGKILL while a batch is held: after a restart it is still held and unsent, and approve then sends it."""
        config = first_night(tree, canvas.url, intake=RUN_INTAKE)
        first = service(config)
        drop_night(tree, enrollments=70)
        held = wait_for_held(tree)
        first.wait_for_event("batch.held")

        first.process.kill()
        first.wait(timeout=10)
        again = service(config)

        def waiting_again() -> bool:
            try:
                status: dict[str, Any] = json.loads((tree.queue / ".status.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return False
            activity = str(status["activity"])
            return status["pid"] == again.process.pid and activity.startswith(f"held: {held.name}")

        wait_until(waiting_again, what="the restarted daemon waiting on the held batch")
        assert [held] == held_batches(tree)
        assert_held_for_deletes(held, tree)
        assert 1 == len(canvas.uploads)
        result = run_command("approve", "-c", str(config), held.name, cwd=tree.root)
        assert 0 == result.returncode, result.stderr
        assert f"{held.name} approved: the running daemon carried it out\n" == result.stdout
        wait_until(lambda: ledger_applied(again, held.name), what="the approved batch in the ledger")
        assert 2 == len(canvas.uploads)
        assert 70 == ledger_count(ledger_file(tree), "enrollment")
        assert 0 == again.stop()


class TestOtherRules:
    def test_renamed_course_ids_are_held_by_max_new_percent(self, tree, canvas):
        """Outside batch mode, the same number of courses under all-new ids is held by hold.max_new_percent."""
        config = tree.write_config(canvas.url, intake=ONCE_INTAKE, hold={"max_new_percent": 50})
        drop_file(tree.drop, "courses.csv", courses_csv([f"C{n}" for n in range(60)]))
        once(config, tree)
        drop_file(tree.drop, "courses.csv", courses_csv([f"R{n}" for n in range(60)]))

        once(config, tree, expect=HELD_CODE)

        held = wait_for_held(tree)
        manifest = tree.manifest(held)
        [reason] = manifest["hold"]["reasons"]
        assert ("course", "hold.max_new_percent", 100.0, 50.0) == (
            reason["csv_type"],
            reason["rule"],
            reason["value"],
            reason["limit"],
        )
        assert "course: 100.0% new of 60 in the ledger (hold.max_new_percent is 50)" == reason["text"]
        assert counts(added=60, ledger_rows=60) == manifest["changes"]["course"]
        assert 1 == len(canvas.uploads)

    def test_an_unchanged_export_with_skip_unchanged_is_filed_done_without_a_request(self, tree, canvas):
        """With import.skip_unchanged, a night identical to the last is filed in done/ and Canvas hears nothing."""
        config = tree.write_config(canvas.url, intake=ONCE_INTAKE, **{"import": {"skip_unchanged": True}})
        drop_file(tree.drop, "users.csv", users_csv(100))
        once(config, tree)
        drop_file(tree.drop, "users.csv", users_csv(100))

        once(config, tree)

        first, second = tree.batches("done")
        manifest = tree.manifest(second)
        assert ("done", "done") == (manifest["state"], manifest["outcome"]["result"])
        assert manifest["outcome"]["reason"].startswith("unchanged")
        assert f"(baseline {first.name})" in manifest["outcome"]["reason"]
        assert counts(unchanged=100, ledger_rows=100) == manifest["changes"]["user"]
        assert manifest["canvas"]["import_id"] is None
        assert 1 == len(canvas.uploads)
        assert [] == tree.batches("queue")

    def test_the_shrink_rule_holds_a_truncated_export_until_approved(self, tree, canvas):
        """hold.max_shrink_percent holds a truncated export (it used to fail it); approve, not retry --force, sends it."""
        config = tree.write_config(canvas.url, intake=ONCE_INTAKE, hold={"max_shrink_percent": 20})
        drop_file(tree.drop, "users.csv", users_csv(100))
        once(config, tree)
        drop_file(tree.drop, "users.csv", users_csv(1))

        once(config, tree, expect=HELD_CODE)

        held = wait_for_held(tree)
        [reason] = tree.manifest(held)["hold"]["reasons"]
        assert ("user", "hold.max_shrink_percent", 99.0, 20.0) == (
            reason["csv_type"],
            reason["rule"],
            reason["value"],
            reason["limit"],
        )
        assert reason["text"].startswith("user: rows fell from 100 (batch ")
        assert "to 1 (-99.0%; hold.max_shrink_percent is 20)" in reason["text"]
        assert [] == tree.batches("failed")
        assert 1 == len(canvas.uploads)
        assert 0 == run_command("approve", "-c", str(config), held.name, cwd=tree.root).returncode
        once(config, tree)
        assert held.name == tree.batches("done")[1].name
        assert 2 == len(canvas.uploads)
