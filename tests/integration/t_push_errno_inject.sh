#!/usr/bin/env bash
# A failing disk under push instead of a kill: t_push_crash_inject.sh's scenarios with the N-th
# file-system call (the push state's .tmp, its write, fsync, rename, the directory's fsync...)
# failing with EIO, ENOSPC, EACCES, EDQUOT in turn. Each push must exit 1 or 4 naming the error
# (never crash), or 0 with the target exact and nothing in doubt; the next push must leave the
# target exact (every message once) and the one after do nothing.
# MK_INJ_STRIDE, MK_INJ_FAKE_STRIDE, MK_INJ_SCENARIOS as for t_push_crash_inject.sh.
MK_INJ_ERRNO=1 exec bash "$(dirname "$0")/t_push_crash_inject.sh"
