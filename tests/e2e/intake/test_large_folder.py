"""A drop folder of 10,000 files still seals correctly, split by `intake.max_batch_files`."""

from __future__ import annotations

from collections import Counter

from support import wait_until


def test_ten_thousand_files_are_sealed_into_batches_of_max_batch_files_and_each_uploaded_once(
    tree, canvas, run_daemon
):
    """10,000 users files become three batches (4,000 + 4,000 + 2,000), every file uploaded once."""
    for index in range(10_000):
        (tree.drop / f"users-{index:05}.csv").write_bytes(
            f"user_id,login_id,status\nu{index},login{index},active\n".encode()
        )
    config = tree.write_config(
        canvas.url, intake={"max_batch_files": 4000, "settle_seconds": 0.2, "quiet_seconds": 0.4}
    )
    running = run_daemon(config)

    wait_until(lambda: len(tree.batches("done")) == 3, timeout=120, what="three batches in done/")

    sizes = sorted(len(tree.manifest(batch)["files"]) for batch in tree.batches("done"))
    assert [2000, 4000, 4000] == sizes
    uploaded = Counter(member.name for upload in canvas.uploads for member in upload.members)
    assert 10_000 == len(uploaded)
    assert {1} == set(uploaded.values())
    assert [] == list(tree.drop.iterdir())
    assert 0 == running.stop()
