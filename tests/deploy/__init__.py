"""Tests of deploy/ (systemd units, sysusers.d, tmpfiles.d, install.sh) and of systemd_notify."""
